"""Typed results the pipeline hands to its listeners (the station session, the CLI, the window)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from inspector.core.timeline import Peak
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
    media_time_s: float | None = None  # video frames: seconds from the start of the video
    wrong_part: bool | None = None  # the part-identity check (None: not checked)
    identity_reason: str | None = None

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
        if self.media_time_s is not None:
            data["media_time_s"] = round(self.media_time_s, 3)
        if self.wrong_part is not None:
            data["wrong_part"] = self.wrong_part
            if self.identity_reason:
                data["identity_reason"] = self.identity_reason
        if self.reason:
            data["reason"] = self.reason
        if self.random_weights:
            data["random_weights"] = True
        return data


RUN_EXIT_CODES: dict[int, str] = {
    0: "every part passed (none skipped)",
    1: "at least one part failed, is uncertain or is the wrong part (also parts found already inspected in this run)",
    2: "bad arguments or recipe (nothing was started)",
    3: "model weights missing",
    4: "the source could not be opened or was lost",
    5: "the database could not be written, or was deleted or replaced: the run stopped and says how many "
    "parts were stored",
    6: "every inspected part passed, but some files were skipped (not inspected; reasons in the database)",
    7: "a golden part got the wrong verdict and the recipe's golden_policy is block (nothing was started)",
    130: "interrupted with Ctrl-C (everything already scored was stored; the run is closed as cancelled)",
    143: "stopped by SIGTERM (as Ctrl-C; the run is closed as terminated)",
}


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
    duplicates_flagged: int = 0  # parts found already inspected whose stored verdict is fail or uncertain
    not_stored: int = 0  # parts scored but not stored (the run stopped with a database error)
    terminated: bool = False  # stopped by SIGTERM (a service manager), not by Ctrl-C
    wrong_parts: int = 0  # parts the identity check called the wrong product (counted in their verdicts too)
    identity_note: str | None = None  # how the identity check ran (calibrated from what, or why it is off)
    timeline_peaks: tuple[Peak, ...] = ()  # video sources: peaks of the score over the video's time

    @property
    def inspected(self) -> int:
        return self.passed + self.failed + self.uncertain

    @property
    def exit_code(self) -> int:
        """The ``inspector run`` exit code (:data:`RUN_EXIT_CODES`); errors first, then stops, then verdicts."""
        if self.error:
            return 4 if self.error_kind == "source" else 5
        if self.terminated:
            return 143
        if self.cancelled:
            return 130
        if self.failed or self.uncertain or self.duplicates_flagged or self.wrong_parts:
            return 1
        return 6 if self.skipped else 0

    @property
    def stop_message(self) -> str | None:
        """For a run stopped by an error: the error, and how many parts were kept and lost."""
        if not self.error:
            return None
        kept = f"{self.inspected} part(s) of this run were committed to the database before it stopped"
        lost = f"; {self.not_stored} scored part(s) were NOT stored" if self.not_stored else ""
        return f"{self.error}\n{kept}{lost}."

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
            "terminated": self.terminated,
            "duplicates_flagged": self.duplicates_flagged,
            "not_stored": self.not_stored,
            "wrong_parts": self.wrong_parts,
            "identity": self.identity_note,
            "timeline_peaks": [
                {
                    "time_s": round(p.time_s, 3),
                    "score": round(p.score, 6),
                    "prominence": round(p.prominence, 6),
                    "frame_index": p.frame_index,
                    "inspection_id": p.inspection_id,
                }
                for p in self.timeline_peaks
            ],
            "error": self.error,
            "exit_code": self.exit_code,
        }
