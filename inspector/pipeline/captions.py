"""What the pipeline needs from a caption scheduler: the typed hand-off for flagged parts."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from inspector.captioning.scheduler import FlaggedPart
from inspector.core.types import Verdict


class ScoringMarker(Protocol):
    def scoring(self) -> AbstractContextManager[object]:
        """Held while the detector scores a batch (captions wait meanwhile)."""
        ...


class CaptionSink(Protocol):
    """Implemented by :class:`~inspector.captioning.CaptionScheduler`.

    The pipeline scores inside ``gate.scoring()``, stores parts that :meth:`wants` says are captioned
    with caption status "pending", and :meth:`submit`\\ s each once its verdict is committed.
    """

    @property
    def gate(self) -> ScoringMarker: ...

    def wants(self, verdict: Verdict, defect_classes: Iterable[str] = ()) -> bool: ...

    def submit(self, part: FlaggedPart) -> bool: ...
