"""Everything a report shows, gathered from the store once, so every format shows the same numbers.

:func:`gather_report` reads the inspections in a :class:`~inspector.reports.scope.ReportScope` in one
pass (page by page, through the store's query API, with the audit trail of each reviewed part),
then the images of the parts the report lists, and returns a frozen :class:`ReportData`. The HTML
and PDF writers only format it; the CSV rows are written during the same pass
(``on_record``), so a CSV made together with a report lists exactly the inspections counted in it.

Runs off the GUI thread: pass a :class:`~inspector.core.progress.ProgressState` to follow progress
and to cancel (:class:`~inspector.core.progress.Cancelled` is raised).
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

import numpy as np

import inspector
from inspector.core.progress import ProgressState
from inspector.core.recipe import band_of_body
from inspector.core.timeline import recipe_peaks
from inspector.reports import DEFAULT_MAX_PARTS
from inspector.reports.charts import draw_charts
from inspector.reports.images import add_images
from inspector.reports.learning import LearningCollector, gather_learning
from inspector.reports.model import (
    CODE,
    HIST_BINS,
    PAUSE_S,
    PHASE_READ,
    UNLABELLED,
    VERDICTS,
    DefectCount,
    Histogram,
    ListedPart,
    ModelUse,
    OverrideSummary,
    RecipeUse,
    ReportData,
    RunTimeline,
    RunUse,
    ScoreSeries,
    Throughput,
    TimelinePeak,
)
from inspector.reports.scope import ReportScope, ResolvedScope, count_in_scope, iter_records, resolve_scope
from inspector.reports.trust import gather_trust
from inspector.store import (
    InspectionRecord,
    InspectionStore,
    OverrideKind,
    OverrideRecord,
    RunRecord,
    Verdict,
    VerdictCounts,
)
from inspector.store.domain import WRONG_PART_KEY


def is_listed(record: InspectionRecord) -> bool:
    """Flagged by the model, not passed after review, or reviewed by an operator."""
    return record.model_verdict != Verdict.PASS or record.effective_verdict != Verdict.PASS or record.override_count > 0


def defect_of(record: InspectionRecord) -> tuple[str | None, str]:
    """The part's defect type and who named it: the operator's label, else the captioner's guess."""
    if record.effective_defect_label:
        return record.effective_defect_label, "operator"
    if record.defect_type:
        return record.defect_type, "captioner"
    return None, ""


class _Collector:
    """Accumulates the figures during the single pass over the records."""

    def __init__(self, max_parts: int) -> None:
        self.max_parts = max_parts
        self.n = 0
        self.model: Counter[Verdict] = Counter()
        self.effective: Counter[Verdict] = Counter()
        self.times: list[float] = []
        self.scores: list[float] = []
        self.thresholds: list[float] = []
        self.codes: list[int] = []
        self.latency: list[float] = []
        self.stations: set[str] = set()
        self.recipes: dict[str, list] = {}  # id -> [name, version, thresholds set, n]
        self.models: Counter[tuple[str, str, str]] = Counter()
        self.models_random: Counter[tuple[str, str, str]] = Counter()
        self.runs: dict[str | None, list] = {}  # run id -> [n, Counter, first, last]
        self.defects: dict[str, list] = {}  # casefolded label -> [label, n, operator, captioner]
        self.reviewed = 0
        self.decisions = 0
        self.confirmations = 0
        self.undos = 0
        self.operators: set[str] = set()
        self.changes: Counter[tuple[Verdict, Verdict]] = Counter()
        self.random = 0
        self.wrong_parts = 0
        self.video_runs: dict[str, float] = {}  # run id -> threshold, for runs of video frames
        self.listed_total = 0
        self._heap: list[tuple[tuple, int, InspectionRecord, tuple[OverrideRecord, ...]]] = []
        self._seq = itertools.count()

    def add(self, r: InspectionRecord, trail: tuple[OverrideRecord, ...]) -> None:
        self.n += 1
        self.model[r.model_verdict] += 1
        self.effective[r.effective_verdict] += 1
        self.times.append(r.inspected_at.timestamp())
        self.scores.append(r.score)
        self.thresholds.append(r.threshold)
        self.codes.append(CODE[r.effective_verdict])
        if r.latency_ms is not None:
            self.latency.append(r.latency_ms)
        if r.station:
            self.stations.add(r.station)
        entry = self.recipes.setdefault(r.recipe_version_id, [r.recipe_name, r.recipe_version, set(), 0])
        entry[2].add(r.threshold)
        entry[3] += 1
        model = (r.detector, r.model_id, r.short_fingerprint)
        self.models[model] += 1
        if r.random_weights:
            self.random += 1
            self.models_random[model] += 1
        if r.shown_verdict == WRONG_PART_KEY:
            self.wrong_parts += 1
        if r.media_time_s is not None and r.run_id:
            self.video_runs.setdefault(r.run_id, r.threshold)
        run = self.runs.setdefault(r.run_id, [0, Counter(), r.inspected_at, r.inspected_at])
        run[0] += 1
        run[1][r.effective_verdict] += 1
        run[2], run[3] = min(run[2], r.inspected_at), max(run[3], r.inspected_at)
        if r.effective_verdict == Verdict.FAIL:
            label, source = defect_of(r)
            label = (label or UNLABELLED).strip() or UNLABELLED
            d = self.defects.setdefault(label.casefold(), [label, 0, 0, 0])
            d[1] += 1
            d[2] += source == "operator"
            d[3] += source == "captioner"
        if r.override_count:
            self.reviewed += 1
            for row in trail:
                self.operators.add(row.operator)
                if row.kind == OverrideKind.UNDO:
                    self.undos += 1
                else:
                    self.decisions += 1
                    self.confirmations += row.previous_verdict == row.new_verdict
            if r.overridden:
                self.changes[(r.model_verdict, r.effective_verdict)] += 1
        if is_listed(r):
            self.listed_total += 1
            priority = (
                r.overridden, r.override_count > 0, r.effective_verdict == Verdict.FAIL,
                r.effective_verdict == Verdict.UNCERTAIN, r.score,
            )  # fmt: skip
            item = (priority, -next(self._seq), r, trail)
            if len(self._heap) < self.max_parts:
                heapq.heappush(self._heap, item)
            elif self.max_parts:
                heapq.heappushpop(self._heap, item)

    def listed(self) -> list[tuple[InspectionRecord, tuple[OverrideRecord, ...]]]:
        return sorted(((r, t) for _p, _s, r, t in self._heap), key=lambda rt: (rt[0].inspected_at, rt[0].id))


def gather_report(
    store: InspectionStore,
    scope: ReportScope | None = None,
    *,
    title: str | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    images: bool = True,
    charts: bool = True,
    tz: tzinfo | None = None,
    progress: ProgressState | None = None,
    on_record: Callable[[InspectionRecord, RunRecord | None, tuple[OverrideRecord, ...]], None] | None = None,
) -> ReportData:
    """Read the inspections in ``scope`` once and compute every figure of the report.

    Args:
        store: The open inspection store (read only: nothing is written).
        scope: What the report covers (default: every inspection).
        title: Report title (default from the scope).
        max_parts: At most this many flagged or reviewed parts are listed with images; when there
            are more, those the operators changed come first, then reviewed, failed, uncertain and
            high-scoring parts (the report says how many were left out; the CSV has them all).
        images: Load thumbnails and heatmaps of the listed parts (off for a CSV-only export).
        charts: Draw the charts (PNG).
        tz: Time zone for the times shown; None: this computer's local time.
        progress: Progress and cancel; phases are reported as the ``message`` argument.
        on_record: Called for each inspection with its run and audit trail (oldest first), in the
            same pass (the CSV writer).

    Raises:
        ReportError: The scope names a run, recipe or lot that is not in the database.
        Cancelled: ``progress.cancel()`` was called.
    """
    progress = progress or ProgressState()
    scope = scope or ReportScope()
    generated_at = datetime.now(UTC)
    resolved = resolve_scope(store, scope)
    total = count_in_scope(store, resolved)
    runs_by_id = {r.id: r for r in resolved.runs}
    collect = _Collector(max(0, max_parts))
    learn = LearningCollector()
    progress.report(0, total, PHASE_READ)
    for r in iter_records(store, resolved, check=progress.check):
        progress.check()
        run = _run_of(store, runs_by_id, r.run_id)
        trail = tuple(store.history(r.id)) if r.override_count else ()
        collect.add(r, trail)
        learn.add(r, trail)
        if on_record is not None:
            on_record(r, run, trail)
        if collect.n % 200 == 0:
            progress.report(min(collect.n, total), max(total, collect.n), PHASE_READ)
    progress.report(collect.n, max(total, collect.n), PHASE_READ)

    listed = [_listed_part(r, trail, runs_by_id) for r, trail in collect.listed()]
    recipes = _recipes(store, collect)
    if images:
        bands = {u.recipe_version_id: u.uncertain_band for u in recipes}
        listed = add_images(store.artifacts, listed, progress, bands=bands)
    series = ScoreSeries(*_series_arrays(collect))
    runs = _runs(collect, runs_by_id)
    data = ReportData(
        title=title or default_title(resolved),
        scope=scope,
        generated_at=generated_at,
        tz=tz,
        database=store.db.where,
        app_version=inspector.__version__,
        inspections=collect.n,
        model_counts=_counts(collect.model),
        effective_counts=_counts(collect.effective),
        overrides=_override_summary(collect),
        throughput=_throughput(collect),
        stations=tuple(sorted(collect.stations)),
        recipes=recipes,
        models=tuple(
            ModelUse(det, mid, n, collect.models_random[(det, mid, fp)], fp)
            for (det, mid, fp), n in sorted(collect.models.items())
        ),
        runs=runs,
        operators=_operators(collect, runs_by_id),
        defects=tuple(
            DefectCount(label, n, op, cap)
            for label, n, op, cap in sorted(collect.defects.values(), key=lambda d: (-d[1], d[0].casefold()))
        ),
        histogram=_histogram(series, recipes),
        series=series,
        parts=tuple(listed),
        parts_total=collect.listed_total,
        random_weights=collect.random,
        skipped_files=sum(u.run.n_skipped for u in runs if u.run is not None),
        learning=gather_learning(store, learn, charts=charts),
        wrong_parts=collect.wrong_parts,
        timelines=_timelines(store, collect, runs_by_id),
    )
    data = replace(data, trust=gather_trust(store, data))
    if charts:
        data = replace(data, charts=draw_charts(data))
    return data


def _timelines(store: InspectionStore, c: _Collector, runs: dict[str, RunRecord]) -> tuple[RunTimeline, ...]:
    """Each video run's peaks, by the rule the run summary and the window use."""
    out = []
    for run_id, threshold in c.video_runs.items():
        points = store.timeline(run_id)
        if not points:
            continue
        frames = {p.inspection_id: p.frame_index for p in points}
        peaks = tuple(
            TimelinePeak(p.time_s, frames.get(p.inspection_id), p.score, p.inspection_id)
            for p in recipe_peaks(points, threshold)
        )
        out.append(RunTimeline(runs.get(run_id), run_id, len(points), points[-1].time_s, peaks))
    return tuple(out)


def default_title(resolved: ResolvedScope) -> str:
    scope = resolved.scope
    if scope.lot:
        return f"Inspection report - lot {scope.lot}"
    if len(resolved.runs) == 1:
        run = resolved.runs[0]
        return f"Inspection report - {run.label or 'run ' + run.id[:8]}"
    if scope.recipe_name:
        return f"Inspection report - {scope.recipe_name}"
    return "Inspection report"


def _run_of(store: InspectionStore, runs: dict[str, RunRecord], run_id: str | None) -> RunRecord | None:
    if run_id is None:
        return None
    if run_id not in runs:
        runs[run_id] = store.get_run(run_id)
    return runs[run_id]


def _counts(counter: Counter[Verdict]) -> VerdictCounts:
    return VerdictCounts(counter[Verdict.PASS], counter[Verdict.FAIL], counter[Verdict.UNCERTAIN])


def _listed_part(
    record: InspectionRecord, history: tuple[OverrideRecord, ...], runs: dict[str, RunRecord]
) -> ListedPart:
    run = runs.get(record.run_id) if record.run_id else None
    defect, source = defect_of(record)
    return ListedPart(
        record=record,
        history=history,
        run_label=(run.label or run.source) if run else None,
        lot=run.lot if run else None,
        defect=defect,
        defect_source=source,
    )


def _override_summary(c: _Collector) -> OverrideSummary:
    order = {v: i for i, v in enumerate(VERDICTS)}
    changes = sorted(c.changes.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]]))
    return OverrideSummary(
        reviewed_parts=c.reviewed,
        decisions=c.decisions,
        confirmations=c.confirmations,
        undos=c.undos,
        changed_parts=sum(c.changes.values()),
        changes=tuple((m, e, n) for (m, e), n in changes),
        operators=tuple(sorted(c.operators, key=str.casefold)),
    )


def _throughput(c: _Collector) -> Throughput:
    if not c.n:
        return Throughput(None, None, 0.0, None, None, None)
    times = np.sort(np.asarray(c.times))
    gaps = np.diff(times)
    active = float(gaps[gaps <= PAUSE_S].sum())
    # each part takes about the typical gap; count the first part of every working stretch too
    typical = float(np.median(gaps[gaps <= PAUSE_S])) if (gaps <= PAUSE_S).any() else 0.0
    active += typical * (1 + int((gaps > PAUSE_S).sum()))
    latency = np.asarray(c.latency) if c.latency else None
    return Throughput(
        first_at=datetime.fromtimestamp(times[0], UTC),
        last_at=datetime.fromtimestamp(times[-1], UTC),
        active_s=active,
        parts_per_hour=c.n / active * 3600.0 if active > 0 else None,
        median_latency_ms=float(np.median(latency)) if latency is not None else None,
        p95_latency_ms=float(np.percentile(latency, 95)) if latency is not None else None,
    )


def _recipes(store: InspectionStore, c: _Collector) -> tuple[RecipeUse, ...]:
    uses = []
    for version_id, (name, version, thresholds, n) in c.recipes.items():
        band = band_of_body(store.get_recipe_version(version_id).body)
        uses.append(RecipeUse(version_id, name, version, tuple(sorted(thresholds)), band, n))
    return tuple(sorted(uses, key=lambda u: (u.name.casefold(), u.version)))


def _runs(c: _Collector, runs: dict[str, RunRecord]) -> tuple[RunUse, ...]:
    uses = [
        RunUse(runs.get(run_id) if run_id else None, n, _counts(counts), first, last)
        for run_id, (n, counts, first, last) in c.runs.items()
    ]
    return tuple(sorted(uses, key=lambda u: (u.first_at, u.run.id if u.run else "")))


def _operators(c: _Collector, runs: dict[str, RunRecord]) -> tuple[str, ...]:
    names = {op for run_id in c.runs if run_id and (op := runs[run_id].operator)}
    names |= c.operators
    return tuple(sorted(names, key=str.casefold))


def _series_arrays(c: _Collector) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    times = np.asarray(c.times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    return (
        times[order],
        np.asarray(c.scores, dtype=np.float64)[order],
        np.asarray(c.thresholds, dtype=np.float64)[order],
        np.asarray(c.codes, dtype=np.int8)[order],
    )


def _histogram(series: ScoreSeries, recipes: tuple[RecipeUse, ...]) -> Histogram:
    scores, codes = series.scores, series.verdicts
    users: dict[float, list[str]] = defaultdict(list)
    for use in recipes:
        for t in use.thresholds:
            users[t].append(f"v{use.version}" if len({u.name for u in recipes}) == 1 else f"{use.name} v{use.version}")
    thresholds = tuple((t, ", ".join(users[t])) for t in sorted(users))
    bands = tuple(sorted({use.uncertain_band for use in recipes if use.uncertain_band}))
    marks = [*users, *(x for band in bands for x in band)]
    values = [*marks, float(scores.min()), float(scores.max())] if len(scores) else marks or [0.0, 1.0]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.02 or 0.5
    edges = np.linspace(lo - pad, hi + pad, HIST_BINS + 1)
    counts = tuple(np.histogram(scores[codes == CODE[v]], bins=edges)[0] for v in VERDICTS)
    return Histogram(edges, counts, thresholds, bands)  # type: ignore[arg-type]
