"""Typed results passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Verdict(StrEnum):
    """What the station (or an operator) decided about a part."""

    PASS = "pass"
    FAIL = "fail"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class AnomalyPrediction:
    """One image's anomaly result.

    Attributes:
        score: Image-level anomaly score (higher means more anomalous).
        anomaly_map: float32 array ``(H, W)`` at the input image's resolution.
        random_weights: True when the model producing it had random weights (tests, benchmarks).
        embedding: The image-level embedding the detector computed anyway (WinCLIP: the CLIP
            class-token embedding in the joint image-text space; AnomalyDINO: DINOv2's class token),
            unit length; the part-identity check uses it at no extra cost. None when there is none.
    """

    score: float
    anomaly_map: np.ndarray
    random_weights: bool = False
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class DetectorInfo:
    """What produced a prediction: shown in tables, reports and the store.

    ``fingerprint`` names the weights actually loaded (``sha256:...`` or ``random:<seed>``, see
    :mod:`inspector.core.fingerprint`); with the recipe version it decides what counts as
    "already inspected".
    """

    detector: str
    model_id: str
    device: str
    dtype: str
    shots: int = 0
    random_weights: bool = False
    fingerprint: str = ""
    backend: str = "torch"  # inference runtime of the image encoder: torch or openvino

    def describe(self) -> str:
        runtime = self.dtype if self.backend == "torch" else f"{self.backend} {self.dtype}"
        text = f"{self.detector} [{self.model_id}] on {self.device}/{runtime}"
        if self.shots:
            text += f", {self.shots}-shot"
        if self.random_weights:
            text += " - RANDOM WEIGHTS (results are meaningless)"
        return text
