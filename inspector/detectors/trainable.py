"""What the trained detectors (memory, simplenet, promptad, student) share.

A trainable detector is an ordinary :class:`~inspector.detectors.base.Detector` with four more
members: ``train(images, progress)`` learns from good parts and returns a :class:`TrainReport`;
``state()`` / ``load_state(state)`` give and take the learned arrays (written as a safetensors
artefact, see :mod:`inspector.detectors.artifact`); ``settings()`` lists the hyper-parameters that
went into it. Until it is trained it behaves as a few-shot detector: ``fit(references)`` trains it
on the references (so ``inspector eval`` and ``inspector bench`` can use it like AnomalyDINO); once
trained or loaded, ``fit`` leaves it as it is and ``needs_references`` is False.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from inspector.core.progress import ProgressState
from inspector.detectors.base import Detector

TRAINED_METHODS = ("memory", "simplenet", "promptad", "student")


@dataclass(frozen=True)
class TrainReport:
    """How a training went.

    Attributes:
        method: ``memory``, ``simplenet``, ``promptad`` or ``student``.
        n_images: Good images it learned from.
        losses: The training loss after each epoch (for ``memory``: the coreset's coverage radius
            after each tenth of the selection; it can only shrink).
        seconds: Wall time of the training (feature extraction included).
        details: Method-specific figures (bank size, memory, agreement...), name -> value.
    """

    method: str
    n_images: int
    losses: tuple[float, ...]
    seconds: float
    details: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "n_images": self.n_images,
            "losses": [float(v) for v in self.losses],
            "seconds": float(self.seconds),
            "details": {k: float(v) for k, v in self.details.items()},
        }


@runtime_checkable
class TrainableDetector(Detector, Protocol):
    """A detector that learns from good parts (see the module docstring)."""

    trained: bool

    def train(self, images: Sequence[np.ndarray], progress: ProgressState | None = None) -> TrainReport: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> None: ...

    def settings(self) -> dict: ...


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def training_autocast(runtime):
    """bf16 autocast for training on a CPU runtime that runs in bf16 (measured fast); else nothing."""
    from inspector._torch import import_torch

    torch = import_torch()
    if runtime.device == "cpu" and runtime.dtype == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if runtime.device.startswith("cuda") and runtime.dtype in ("float16", "bfloat16"):
        return torch.autocast("cuda", dtype=getattr(torch, runtime.dtype))
    return contextlib.nullcontext()


def seeded_generator(seed: int, device="cpu"):
    from inspector._torch import import_torch

    torch = import_torch()
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen
