"""What the store hands to the rest of the station: frozen records, never ORM rows.

Inputs (:class:`NewInspection`, :class:`InspectionFilter`) are checked when they are built, so a
bad value fails in the code that made it rather than deep inside a database transaction.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from inspector.core.clock import utc_now
from inspector.core.types import Verdict

__all__ = ["Verdict"]  # re-exported: the one verdict enum lives in inspector.core.types

if TYPE_CHECKING:
    from inspector.core.types import AnomalyPrediction, DetectorInfo

_SHA256 = re.compile(r"[0-9a-f]{64}")


WRONG_PART_LABEL = "WRONG PART"
WRONG_PART_KEY = "wrong_part"  # the badge / colour key beside pass, fail, uncertain


class CaptionStatus(StrEnum):
    """Where a flagged part's caption stands; ``None`` on a record means none was asked for."""

    PENDING = "pending"  # queued; captions never delay scoring
    DONE = "done"
    MISSING = "missing"  # no captioner, or it failed: see ``caption_reason``


class OverrideKind(StrEnum):
    OVERRIDE = "override"  # an operator's decision (a confirmation keeps the same verdict)
    UNDO = "undo"  # takes back an earlier override; itself an audit row


class Order(StrEnum):
    """Sort orders for :meth:`InspectionStore.query`."""

    NEWEST = "newest"
    OLDEST = "oldest"
    SCORE_DESC = "score_desc"
    SCORE_ASC = "score_asc"


def new_id() -> str:
    """A UUID (version 7 layout: millisecond time first, then 74 random bits) as a string.

    Unique across stations without coordination, and roughly time-ordered, which keeps the primary
    key index compact when a shared database collects many stations' rows.
    """
    ms = int(datetime.now(UTC).timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(uuid.uuid4().bytes[:10], "big") & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (use datetime.now(UTC)), got {value!r}")


def check_sha256(value: str, what: str = "content_hash") -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ValueError(f"{what} must be a lowercase hex sha256 digest (64 characters), got {value!r}")
    return value


@dataclass(frozen=True)
class NewInspection:
    """One scored part to be logged. ``id`` may be chosen by the caller (e.g. to queue a caption)."""

    content_hash: str
    recipe_version_id: str
    score: float
    threshold: float
    verdict: Verdict
    detector: str
    model_id: str
    source: str = ""
    file_path: str | None = None
    run_id: str | None = None
    inspected_at: datetime = field(default_factory=utc_now)
    latency_ms: float | None = None
    random_weights: bool = False
    image_artifact: str | None = None
    heatmap_artifact: str | None = None
    thumbnail_artifact: str | None = None
    caption_status: CaptionStatus | None = None
    station: str | None = None
    model_fingerprint: str = ""  # the weights: "sha256:..." or "random:<seed>" (part of the duplicate key)
    model_device: str | None = None
    model_dtype: str | None = None
    media_time_s: float | None = None  # video frames: seconds from the start of the video
    frame_index: int | None = None  # video frames: the frame number
    wrong_part: bool | None = None  # the part-identity check (None: not checked)
    identity_score: float | None = None
    identity_reason: str | None = None
    review_reason: str | None = None  # why it was queued for review on its own (inspector.core.review_sampling)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        check_sha256(self.content_hash)
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        if self.caption_status is not None:
            object.__setattr__(self, "caption_status", CaptionStatus(self.caption_status))
        for name in ("score", "threshold"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        _check_aware("inspected_at", self.inspected_at)

    @classmethod
    def from_prediction(
        cls,
        prediction: AnomalyPrediction,
        info: DetectorInfo,
        *,
        content_hash: str,
        recipe_version_id: str,
        threshold: float,
        verdict: Verdict,
        **extra: Any,
    ) -> NewInspection:
        """Build from the detector's typed result; random weights are carried over, never lost."""
        return cls(
            content_hash=content_hash,
            recipe_version_id=recipe_version_id,
            score=float(prediction.score),
            threshold=float(threshold),
            verdict=verdict,
            detector=info.detector,
            model_id=info.model_id,
            random_weights=bool(prediction.random_weights or info.random_weights),
            model_fingerprint=info.fingerprint,
            model_device=info.device,
            model_dtype=info.dtype,
            **extra,
        )


@dataclass(frozen=True)
class AddResult:
    """The outcome of :meth:`InspectionStore.add_inspections`, one entry per input, in order.

    For a duplicate (same content hash, recipe version and model fingerprint already stored) ``ids[i]`` is the id of
    the inspection already in the database, and nothing new was written for it.
    """

    ids: tuple[str, ...]
    duplicate: tuple[bool, ...]

    @property
    def inserted_ids(self) -> list[str]:
        return [i for i, dup in zip(self.ids, self.duplicate, strict=True) if not dup]

    @property
    def duplicate_ids(self) -> list[str]:
        return [i for i, dup in zip(self.ids, self.duplicate, strict=True) if dup]

    @property
    def n_inserted(self) -> int:
        return self.duplicate.count(False)

    @property
    def n_duplicates(self) -> int:
        return self.duplicate.count(True)


@dataclass(frozen=True)
class VerdictCounts:
    passed: int = 0
    failed: int = 0
    uncertain: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.uncertain

    def of(self, verdict: Verdict) -> int:
        return {Verdict.PASS: self.passed, Verdict.FAIL: self.failed, Verdict.UNCERTAIN: self.uncertain}[
            Verdict(verdict)
        ]


@dataclass(frozen=True)
class OperatorRecord:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class OverrideRecord:
    """One row of a part's audit trail. Rows are only ever appended."""

    id: str
    inspection_id: str
    seq: int  # 1, 2, 3... per inspection: the order of the trail
    kind: OverrideKind
    operator: str
    created_at: datetime
    previous_verdict: Verdict
    new_verdict: Verdict
    previous_defect_label: str | None
    defect_label: str | None
    note: str | None
    undoes_id: str | None = None  # for an UNDO row: the override it takes back


#: Longest caption an operator may type (characters): a description, not a report.
MAX_CAPTION_CHARS = 1000


@dataclass(frozen=True)
class CaptionCorrectionRecord:
    """One operator's correction of a part's caption (append-only; the newest is effective).

    Attributes:
        machine_caption: The captioner's caption the operator corrected (None: there was none).
        caption: The operator's text.
    """

    id: str
    inspection_id: str
    seq: int
    operator: str
    created_at: datetime
    machine_caption: str | None
    caption: str
    note: str | None = None


@dataclass(frozen=True)
class InspectionRecord:
    """A logged inspection with its derived, effective verdict.

    ``model_verdict`` is what the detector decided and never changes; ``effective_verdict`` is the
    newest audit row's verdict (or the model's when nobody reviewed the part).
    """

    id: str
    run_id: str | None
    station: str | None
    source: str
    file_path: str | None
    content_hash: str
    inspected_at: datetime
    recipe_version_id: str
    recipe_name: str
    recipe_version: int
    detector: str
    model_id: str
    score: float
    threshold: float
    model_verdict: Verdict
    effective_verdict: Verdict
    effective_defect_label: str | None
    override_count: int
    last_reviewed_by: str | None
    last_reviewed_at: datetime | None
    latency_ms: float | None
    random_weights: bool
    image_artifact: str | None
    heatmap_artifact: str | None
    thumbnail_artifact: str | None
    caption: str | None
    caption_status: CaptionStatus | None
    caption_reason: str | None
    defect_type: str | None  # the captioner's guess; the operator's label is effective_defect_label
    defect_confidence: float | None
    model_fingerprint: str = ""  # empty: recorded before the station kept fingerprints
    model_device: str | None = None
    model_dtype: str | None = None
    media_time_s: float | None = None
    frame_index: int | None = None
    wrong_part: bool | None = None
    identity_score: float | None = None
    identity_reason: str | None = None
    review_reason: str | None = None  # why the station queued it for review on its own; None: it did not
    corrected_caption: str | None = None  # the newest operator correction (None: not corrected)
    caption_corrected_by: str | None = None
    caption_corrected_at: datetime | None = None

    @property
    def effective_caption(self) -> str | None:
        """What reports and screens show: the operator's correction, else the captioner's caption."""
        return self.corrected_caption if self.corrected_caption is not None else self.caption

    @property
    def caption_corrected(self) -> bool:
        return self.corrected_caption is not None

    @property
    def verdict_label(self) -> str:
        """What the operator reads: ``WRONG PART`` for an unreviewed wrong part, else the effective verdict."""
        if self.wrong_part and not self.reviewed:
            return WRONG_PART_LABEL
        return self.effective_verdict.value.upper()

    @property
    def shown_verdict(self) -> str:
        """The badge and colour key: ``wrong_part`` for an unreviewed wrong part, else the effective verdict."""
        return WRONG_PART_KEY if self.wrong_part and not self.reviewed else self.effective_verdict.value

    @property
    def short_fingerprint(self) -> str:
        """The weights' fingerprint as reports and the review detail show it."""
        from inspector.core.fingerprint import short_fingerprint

        return short_fingerprint(self.model_fingerprint)

    @property
    def overridden(self) -> bool:
        """True when an operator's decision differs from the model's."""
        return self.effective_verdict != self.model_verdict

    @property
    def reviewed(self) -> bool:
        return self.override_count > 0


@dataclass(frozen=True)
class RecipeVersionRecord:
    id: str
    recipe_id: str
    recipe_name: str
    version: int
    body: Mapping[str, Any]  # the recipe as saved (JSON); the recipe module owns its meaning
    body_sha256: str
    created_at: datetime
    signature_id: str | None = None  # the signature that approved it (schema 11); None: unsigned


class RunOutcome(StrEnum):
    """How a run ended."""

    FINISHED = "finished"  # the source ended (or a camera run was stopped by the operator)
    CANCELLED = "cancelled"  # Ctrl-C / Stop before the source ended
    TERMINATED = "terminated"  # SIGTERM (a service manager stopping the station)
    ERROR = "error"  # stopped by a source or database error
    KILLED = "killed"  # the process died without closing the run (kill -9, crash, power cut)


@dataclass(frozen=True)
class RunRecord:
    """A run (a folder pass, a camera session or a shift) with the model's verdict counts."""

    id: str
    started_at: datetime
    ended_at: datetime | None  # None: still running, or the station stopped without finishing it
    operator: str | None
    recipe_version_id: str | None
    source: str
    label: str | None
    lot: str | None
    station: str | None
    counts: VerdictCounts
    n_duplicates: int
    n_skipped: int
    outcome: str | None = None  # a RunOutcome value; None while the run is open

    @property
    def status(self) -> str:
        """``running`` while open, else how it ended (``killed``: the station died without closing it)."""
        return self.outcome or ("running" if self.ended_at is None else RunOutcome.FINISHED.value)


@dataclass(frozen=True)
class SkipRecord:
    id: str
    run_id: str | None
    path: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class InspectionFilter:
    """Which inspections :meth:`InspectionStore.query` and :meth:`InspectionStore.count` select.

    Unset fields do not filter. Verdict fields accept one verdict or several.
    """

    run_id: str | None = None
    recipe_version_id: str | None = None
    recipe_name: str | None = None
    model_verdict: frozenset[Verdict] | None = None
    effective_verdict: frozenset[Verdict] | None = None
    reviewed: bool | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    content_hash: str | None = None
    path_contains: str | None = None
    caption_contains: str | None = None  # in the caption or the suggested defect type (case-insensitive)
    search: str | None = None  # file name, caption or defect type contains it, or the part id starts with it
    caption_status: CaptionStatus | None = None
    random_weights: bool | None = None
    station: str | None = None  # one station's parts, in a database shared by many
    wrong_part: bool | None = None  # True: only parts the identity check called the wrong part
    to_review: bool | None = None  # True: parts queued for review on their own and not reviewed yet

    def __post_init__(self) -> None:
        for name in ("model_verdict", "effective_verdict"):
            value = getattr(self, name)
            if value is None:
                continue
            items = [value] if isinstance(value, str) else list(value)
            object.__setattr__(self, name, frozenset(Verdict(v) for v in items))
        if self.caption_status is not None:
            object.__setattr__(self, "caption_status", CaptionStatus(self.caption_status))
        _check_aware("since", self.since)
        _check_aware("until", self.until)
