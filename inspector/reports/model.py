"""The report model: the frozen figures one report shows, whatever the format (PDF, HTML, CSV).

Built once by :func:`inspector.reports.data.gather_report`; the writers (``pdf``, ``html``,
``sections``) and the drawers (``charts``, ``images``) read it and import nothing else of the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np

from inspector.core.drift import DriftChart
from inspector.core.review_stats import ReviewStats
from inspector.reports.scope import ReportScope
from inspector.store import InspectionRecord, OverrideRecord, RunRecord, Verdict, VerdictCounts
from inspector.store.golden import GoldenCheckRecord

VERDICTS = (Verdict.PASS, Verdict.UNCERTAIN, Verdict.FAIL)
CODE = {v: i for i, v in enumerate(VERDICTS)}  # compact verdict codes in ScoreSeries
UNLABELLED = "unlabelled"
PAUSE_S = 600.0  # gaps longer than this between two parts are pauses, not inspection time
HIST_BINS = 40

# Phases reported through ProgressState.report(done, total, phase).
PHASE_READ = "Reading inspections"
PHASE_IMAGES = "Preparing images"


@dataclass(frozen=True)
class RecipeUse:
    """A recipe version used in the report, with its thresholds and how many parts it scored."""

    recipe_version_id: str
    name: str
    version: int
    thresholds: tuple[float, ...]
    uncertain_band: tuple[float, float] | None
    inspections: int


@dataclass(frozen=True)
class ModelUse:
    detector: str
    model_id: str
    inspections: int
    random_weights: int  # how many of them were scored by a model with random weights
    fingerprint: str = ""  # the weights (short form, as reports show it; "unrecorded" for old rows)


@dataclass(frozen=True)
class RunUse:
    """A run with inspections in the report (``run`` is None for parts logged outside any run)."""

    run: RunRecord | None
    inspections: int
    effective: VerdictCounts
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class TimelinePeak:
    """A peak of a video run's score timeline (:func:`inspector.core.timeline.recipe_peaks`)."""

    time_s: float
    frame_index: int | None
    score: float
    inspection_id: str | None


@dataclass(frozen=True)
class RunTimeline:
    """A video run in the report: its scored frames and the peaks of its score over video time."""

    run: RunRecord | None
    run_id: str
    frames: int
    duration_s: float
    peaks: tuple[TimelinePeak, ...]


@dataclass(frozen=True)
class DefectCount:
    """Failed parts (after review) of one defect type; ``label`` is ``unlabelled`` for none."""

    label: str
    parts: int
    by_operator: int  # labelled by an operator
    by_captioner: int  # only the captioner's guess


@dataclass(frozen=True)
class OverrideSummary:
    reviewed_parts: int  # parts with at least one audit row
    decisions: int  # operator decisions (override rows), confirmations included
    confirmations: int  # decisions that kept the verdict they found
    undos: int  # undo rows
    changed_parts: int  # parts whose verdict after review differs from the model's
    changes: tuple[tuple[Verdict, Verdict, int], ...]  # (model, after review, parts), for changed parts
    operators: tuple[str, ...]  # who made the decisions


@dataclass(frozen=True)
class Throughput:
    first_at: datetime | None
    last_at: datetime | None
    active_s: float  # inspecting time: pauses over PAUSE_S between parts excluded
    parts_per_hour: float | None
    median_latency_ms: float | None  # model time per part
    p95_latency_ms: float | None


@dataclass(frozen=True, eq=False)
class Histogram:
    """Score histogram; ``counts[i][b]`` is the number of parts of ``VERDICTS[i]`` (after review) in bin b."""

    edges: np.ndarray
    counts: tuple[np.ndarray, np.ndarray, np.ndarray]
    thresholds: tuple[tuple[float, str], ...]  # (threshold, which recipe versions use it: "v1, v2")
    bands: tuple[tuple[float, float], ...]  # uncertain bands of the recipe versions


@dataclass(frozen=True, eq=False)
class ScoreSeries:
    """Per inspection, in inspection order: the score trend's data."""

    times: np.ndarray  # seconds since the epoch (UTC)
    scores: np.ndarray
    thresholds: np.ndarray
    verdicts: np.ndarray  # CODE of the verdict after review


@dataclass(frozen=True)
class ListedPart:
    """A flagged or reviewed part, listed with its images and its audit trail."""

    record: InspectionRecord
    history: tuple[OverrideRecord, ...]
    run_label: str | None
    lot: str | None
    defect: str | None  # the operator's label, else the captioner's guess
    defect_source: str  # "operator", "captioner" or ""
    thumbnail: bytes | None = None  # JPEG
    overlay: bytes | None = None  # JPEG: the anomaly map over the part
    image_note: str = ""  # why an image is missing


@dataclass(frozen=True, eq=False)
class Charts:
    histogram: bytes  # PNG
    trend: bytes  # PNG
    defects: bytes | None  # PNG, None when no part failed


@dataclass(frozen=True)
class VersionSignature:
    """Who signed a recipe version used in the report (see inspector.reports.trust)."""

    name: str
    version: int
    signed_by: str | None  # "eve (engineer), 2026-12-01 12:03 UTC, approved: ..."; None: unsigned


@dataclass(frozen=True)
class TrustSection:
    """The golden-part checks of the report's recipes and the signatures of its versions (reports.trust)."""

    checks: tuple[GoldenCheckRecord, ...]  # newest first, at most reports.trust.MAX_CHECKS
    checks_total: int
    versions: tuple[VersionSignature, ...]

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if not c.passed)

    @property
    def unsigned(self) -> tuple[VersionSignature, ...]:
        return tuple(v for v in self.versions if v.signed_by is None)


@dataclass(frozen=True, eq=False)
class VersionLearning:
    """One recipe version's reviewed-parts figures and drift chart (see inspector.reports.learning)."""

    recipe_version_id: str
    name: str
    version: int
    parts: int
    review: ReviewStats | None  # None: no reviewed part of this version in the report
    drift: DriftChart | None
    drift_note: str  # why there is no chart, or its summary
    roc_png: bytes | None = None
    drift_png: bytes | None = None
    captioner: tuple[str, ...] = ()  # the recipe version's captioner version (inspector.reports.caption_versions)


@dataclass(frozen=True, eq=False)
class LearningData:
    versions: tuple[VersionLearning, ...] = ()


@dataclass(frozen=True, eq=False)
class ReportData:
    """The figures of one report. Build with :func:`gather_report`."""

    title: str
    scope: ReportScope
    generated_at: datetime
    tz: tzinfo | None  # times are shown in this zone; None: the computer's local time
    database: str
    app_version: str
    inspections: int
    model_counts: VerdictCounts
    effective_counts: VerdictCounts
    overrides: OverrideSummary
    throughput: Throughput
    stations: tuple[str, ...]
    recipes: tuple[RecipeUse, ...]
    models: tuple[ModelUse, ...]
    runs: tuple[RunUse, ...]
    operators: tuple[str, ...]  # run operators and reviewers
    defects: tuple[DefectCount, ...]
    histogram: Histogram
    series: ScoreSeries
    parts: tuple[ListedPart, ...]  # in inspection order
    parts_total: int  # flagged or reviewed parts in scope; ``parts`` holds at most max_parts of them
    random_weights: int  # inspections scored with random weights
    skipped_files: int  # files the runs in the report could not inspect
    charts: Charts | None = field(default=None)
    learning: LearningData | None = field(default=None)  # reviewed-parts rates, drift (reports.learning)
    trust: TrustSection | None = field(default=None)  # golden-part checks, recipe signatures (reports.trust)
    wrong_parts: int = 0  # unreviewed parts the part-identity check called another product (WRONG PART)
    timelines: tuple[RunTimeline, ...] = ()  # video runs: their peaks, with frames

    @property
    def has_random_weights(self) -> bool:
        return self.random_weights > 0

    @property
    def period(self) -> tuple[datetime | None, datetime | None]:
        """The scope's period, else the first and last inspection."""
        return (self.scope.since or self.throughput.first_at, self.scope.until or self.throughput.last_at)

    def rate(self, verdict: Verdict, *, effective: bool = True) -> float | None:
        """Share of inspections with ``verdict`` (after review by default); None when there are none."""
        counts = self.effective_counts if effective else self.model_counts
        return counts.of(verdict) / self.inspections if self.inspections else None
