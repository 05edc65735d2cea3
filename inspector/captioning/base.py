"""The captioner protocol, its result, and the "none" captioner.

A captioner turns an RGB ``uint8`` image (the crop around a flagged region) and a prompt into a
:class:`CaptionResult`. Models load lazily: on the first :meth:`Captioner.caption` (or an explicit
:meth:`Captioner.load`), on the thread that calls it. ``checkpoint`` is called often while the model
runs (before every transformer layer and generated token): it may block (to let scoring go first)
or raise (to cancel a caption that is too slow or no longer wanted). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

from inspector.captioning.text import CaptionPrompt

Checkpoint = Callable[[], None]

RANDOM_PREFIX = "[random weights] "
RANDOM_REASON = "random weights: the caption is meaningless (tests and benchmarks only)"


class ResultStatus(StrEnum):
    """How one caption came out."""

    OK = "ok"
    UNUSABLE = "unusable"  # the model ran, but its output was empty or not text; the caption says so
    OFF = "off"  # the "none" captioner: no caption was made


@dataclass(frozen=True)
class CaptionResult:
    """One caption.

    Attributes:
        text: What the operator reads (for ``unusable``, a sentence saying there is none and why).
        status: ``ok``, ``unusable`` or ``off``.
        reason: Why it is not a plain caption (unusable output, random weights), else None.
        seconds: Wall time of the caption (model loading not included).
        model_id: Registry id of the captioner (``none`` for no captioner).
        random_weights: The model had random weights: the text is meaningless.
        new_tokens: Tokens the model generated.
    """

    text: str
    status: ResultStatus
    reason: str | None = None
    seconds: float = 0.0
    model_id: str = ""
    random_weights: bool = False
    new_tokens: int = 0

    @property
    def usable(self) -> bool:
        return self.status == ResultStatus.OK


class CaptionCancelled(Exception):  # noqa: N818 - a signal, not an error shown as such
    """Raised by a checkpoint to stop a caption in progress; ``reason`` is stored with the part."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Captioner(Protocol):
    """What the caption scheduler relies on."""

    model_id: str

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (``load`` has run)."""

    def load(self) -> None:
        """Load the model now, on the calling thread (else the first caption does).

        Raises:
            WeightsMissingError: The weights are not on this station.
        """

    def prompt_for(self, object_name: str, defect_classes: Sequence[str] = ()) -> CaptionPrompt:
        """The prompt this captioner asks about a flagged region of the named part (and its defect vocabulary)."""

    def caption(
        self, image: np.ndarray, prompt: CaptionPrompt | str, *, checkpoint: Checkpoint | None = None
    ) -> CaptionResult:
        """Describe an RGB uint8 image ``(H, W, 3)``."""

    def close(self) -> None:
        """Free the model (a later caption loads it again)."""


class NoCaptioner:
    """The "none" captioner: a valid choice that makes no caption (defect types still run)."""

    model_id = "none"
    loaded = True

    def load(self) -> None:
        return None

    def prompt_for(self, object_name: str, defect_classes: Sequence[str] = ()) -> CaptionPrompt:
        return CaptionPrompt(text="")

    def caption(
        self, image: np.ndarray, prompt: CaptionPrompt | str, *, checkpoint: Checkpoint | None = None
    ) -> CaptionResult:
        return CaptionResult(
            text="", status=ResultStatus.OFF, reason="no captioner: captions are set to 'none'", model_id=self.model_id
        )

    def close(self) -> None:
        return None
