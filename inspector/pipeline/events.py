"""Typed results the pipeline hands to its listeners (the CLI, the window, the caption scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from inspector.core.types import Verdict


class PartStatus(StrEnum):
    STORED = "stored"  # scored and committed to the database
    DUPLICATE = "duplicate"  # same content already inspected with this recipe version: not scored again
    SKIPPED = "skipped"  # could not be read; the reason is in the database
    ERROR = "error"  # scored but could not be stored (the run stops)


@dataclass(frozen=True)
class PartResult:
    """One frame's outcome. ``STORED`` is only reported after the verdict is committed."""

    status: PartStatus
    index: int
    source_id: str
    path: str | None
    timestamp: datetime
    inspection_id: str | None = None
    score: float | None = None
    threshold: float | None = None
    verdict: Verdict | None = None
    latency_ms: float | None = None
    reason: str | None = None
    random_weights: bool = False
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    anomaly_map: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """One JSON-lines record (no pixel data)."""
        data: dict[str, Any] = {
            "status": self.status.value,
            "index": self.index,
            "source": self.source_id,
            "path": self.path,
            "time": self.timestamp.isoformat(),
        }
        if self.inspection_id:
            data["inspection_id"] = self.inspection_id
        if self.score is not None:
            data.update(
                score=round(self.score, 6),
                threshold=self.threshold,
                verdict=self.verdict.value if self.verdict else None,
                latency_ms=None if self.latency_ms is None else round(self.latency_ms, 1),
            )
        if self.reason:
            data["reason"] = self.reason
        if self.random_weights:
            data["random_weights"] = True
        return data


@dataclass(frozen=True)
class FlaggedPart:
    """A failed or uncertain part, handed to the caption hook after its verdict is stored."""

    inspection_id: str
    image: np.ndarray
    anomaly_map: np.ndarray
    score: float
    verdict: Verdict
    object_name: str
    defect_classes: tuple[str, ...]


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    recipe: str
    recipe_version: int
    source: str
    detector: str
    model_id: str
    passed: int
    failed: int
    uncertain: int
    duplicates: int
    skipped: int
    dropped_frames: int
    seconds: float
    predict_seconds: float
    random_weights: bool
    cancelled: bool
    error: str | None = None
    error_kind: str | None = None  # "source" or "store"
    model_fingerprint: str = ""  # the weights that scored this run ("sha256:..." or "random:<seed>")

    @property
    def inspected(self) -> int:
        return self.passed + self.failed + self.uncertain

    @property
    def images_per_s(self) -> float:
        return self.inspected / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": True,
            "run_id": self.run_id,
            "recipe": self.recipe,
            "recipe_version": self.recipe_version,
            "source": self.source,
            "detector": self.detector,
            "model": self.model_id,
            "model_fingerprint": self.model_fingerprint,
            "pass": self.passed,
            "fail": self.failed,
            "uncertain": self.uncertain,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "dropped_frames": self.dropped_frames,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            "random_weights": self.random_weights,
            "cancelled": self.cancelled,
            "error": self.error,
        }
