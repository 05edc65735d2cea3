"""The report's figures, checked against the store's own queries."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from inspector.core.progress import Cancelled, ProgressState
from inspector.reports.data import VERDICTS, gather_report, is_listed
from inspector.reports.scope import ReportError, ReportScope, iter_records, parse_when, resolve_scope
from inspector.store import InspectionFilter, NewInspection, OverrideKind, Verdict, VerdictCounts

from .conftest import all_records
from .factory import T0


def test_counts_match_the_store(station, report_data):
    store, d = station.store, report_data
    assert d.inspections == store.count() == station.n
    assert d.effective_counts == store.count_by_verdict(effective=True)
    assert d.model_counts == store.count_by_verdict(effective=False)
    assert d.random_weights == store.count(InspectionFilter(random_weights=True)) > 0
    assert d.has_random_weights
    assert d.overrides.reviewed_parts == store.count(InspectionFilter(reviewed=True)) > 0
    assert d.rate(Verdict.FAIL) == pytest.approx(d.effective_counts.failed / d.inspections)
    assert d.skipped_files == 2 and d.stations == ("line-3-station",)


def test_override_figures_match_the_audit_trails(station, report_data):
    records = all_records(station.store)
    changed = Counter((r.model_verdict, r.effective_verdict) for r in records if r.effective_verdict != r.model_verdict)
    rows = [row for r in records if r.override_count for row in station.store.history(r.id)]
    o = report_data.overrides
    assert o.changed_parts == sum(changed.values()) > 0
    assert {(m, e): n for m, e, n in o.changes} == changed
    assert o.undos == sum(row.kind == OverrideKind.UNDO for row in rows) == 2
    assert o.decisions == sum(row.kind == OverrideKind.OVERRIDE for row in rows)
    assert (
        o.confirmations
        == sum(row.kind == OverrideKind.OVERRIDE and row.previous_verdict == row.new_verdict for row in rows)
        > 0
    )
    assert set(o.operators) == {row.operator for row in rows} == {"Ana Lima", "Ben Okafor", "QA Lead"}
    assert set(report_data.operators) == {"Ana Lima", "Ben Okafor", "QA Lead"}


def test_runs_recipes_models_and_defects(station, report_data):
    store, d = station.store, report_data
    by_run = {u.run.id if u.run else None: u for u in d.runs}
    for run_id in (station.run_a, station.run_b):
        assert by_run[run_id].inspections == store.count(InspectionFilter(run_id=run_id))
        assert by_run[run_id].effective == store.count_by_verdict(InspectionFilter(run_id=run_id))
    in_runs = sum(by_run[r].inspections for r in (station.run_a, station.run_b))
    assert by_run[None].inspections == d.inspections - in_runs == 6
    versions = {u.version: u for u in d.recipes}
    assert versions[1].thresholds == (0.5,) and versions[1].uncertain_band is None
    assert versions[2].thresholds == (0.55,) and versions[2].uncertain_band == (0.5, 0.6)
    assert versions[1].inspections == store.count(InspectionFilter(recipe_version_id=station.recipe_v1))
    assert [(m.detector, m.model_id, m.inspections) for m in d.models] == [("anomalydino", "dinov2-small", 300)]
    fails = all_records(store, InspectionFilter(effective_verdict=Verdict.FAIL))
    labels = Counter((r.effective_defect_label or r.defect_type or "unlabelled") for r in fails)
    assert {x.label: x.parts for x in d.defects} == dict(labels)
    assert sum(x.parts for x in d.defects) == d.effective_counts.failed
    assert sum(x.by_operator for x in d.defects) == sum(1 for r in fails if r.effective_defect_label)


def test_histogram_trend_and_throughput(station, report_data):
    d = report_data
    stacked = np.vstack(d.histogram.counts)
    assert int(stacked.sum()) == d.inspections
    for i, verdict in enumerate(VERDICTS):
        assert int(stacked[i].sum()) == d.effective_counts.of(verdict)
    assert [t for t, _ in d.histogram.thresholds] == [0.5, 0.55] and d.histogram.bands == ((0.5, 0.6),)
    assert len(d.series.scores) == d.inspections and np.all(np.diff(d.series.times) >= 0)
    t = d.throughput
    assert t.first_at == T0 and t.last_at > t.first_at
    # 20 s per part in the shifts, 5 min between the 6 loose parts; the 30 min break and the gaps
    # between shifts (> 10 min) are pauses, each working stretch counting one typical part time (20 s)
    active = 145 * 20 + 146 * 20 + 5 * 300 + 4 * 20
    assert t.active_s == pytest.approx(active) and t.parts_per_hour == pytest.approx(300 * 3600 / active)
    assert 60 < t.median_latency_ms < 110


def test_listed_parts_are_the_flagged_or_reviewed_ones(station, report_data):
    records = all_records(station.store)
    listed = [r for r in records if is_listed(r)]
    assert report_data.parts_total == len(listed) == len(report_data.parts)
    assert [p.record.id for p in report_data.parts] == [r.id for r in listed]  # inspection order
    part = next(p for p in report_data.parts if p.record.override_count >= 2)
    assert [row.id for row in part.history] == [row.id for row in station.store.history(part.record.id)]
    assert all(p.thumbnail and p.overlay for p in report_data.parts)
    assert report_data.parts[0].thumbnail[:2] == b"\xff\xd8"  # JPEG


def test_max_parts_keeps_the_changed_parts_first(station):
    changed = sum(1 for r in all_records(station.store) if r.overridden)
    d = gather_report(station.store, max_parts=changed + 3, images=False, charts=False)
    assert len(d.parts) == changed + 3 < d.parts_total
    assert sum(p.record.overridden for p in d.parts) == changed
    times = [p.record.inspected_at for p in d.parts]
    assert times == sorted(times)


@pytest.mark.parametrize("kind", ["run", "lot", "version", "period"])
def test_scopes_match_store_filters(station, kind):
    store = station.store
    if kind == "run":
        scope, where = ReportScope(run_id=station.run_b), InspectionFilter(run_id=station.run_b)
    elif kind == "lot":
        scope, where = ReportScope(lot="L-17"), InspectionFilter(run_id=station.run_a)
    elif kind == "version":
        scope, where = (
            ReportScope(recipe_name="bracket-A", recipe_version=2),
            InspectionFilter(recipe_version_id=station.recipe_v2),
        )
    else:
        since, until = T0 + timedelta(minutes=10), T0 + timedelta(hours=9)
        scope, where = ReportScope(since=since, until=until), InspectionFilter(since=since, until=until)
    d = gather_report(store, scope, images=False, charts=False)
    assert d.inspections == store.count(where) > 0
    assert d.effective_counts == store.count_by_verdict(where)
    assert d.model_counts == store.count_by_verdict(where, effective=False)


def test_unknown_names_give_plain_errors(station):
    store = station.store
    with pytest.raises(ReportError, match="no recipe called 'nope'.*bracket-A"):
        resolve_scope(store, ReportScope(recipe_name="nope"))
    with pytest.raises(ReportError, match="has no version 9 .*v1, v2"):
        resolve_scope(store, ReportScope(recipe_name="bracket-A", recipe_version=9))
    with pytest.raises(ReportError, match="lot 'L-99'.*L-17, L-18"):
        resolve_scope(store, ReportScope(lot="L-99"))
    with pytest.raises(ReportError, match="no run"):
        resolve_scope(store, ReportScope(run_id="not-a-run"))
    with pytest.raises(ReportError, match="time zone"):
        ReportScope(since=datetime(2025, 1, 1))
    with pytest.raises(ReportError, match="period is empty"):
        ReportScope(since=T0, until=T0)


def test_empty_scope_gives_zero_figures(station):
    d = gather_report(station.store, ReportScope(since=T0 - timedelta(days=9), until=T0 - timedelta(days=8)))
    assert d.inspections == 0 and d.effective_counts == VerdictCounts() and d.parts == ()
    assert d.rate(Verdict.FAIL) is None and d.charts.histogram[:4] == b"\x89PNG" and d.charts.defects is None


def test_paging_is_exact_when_many_parts_share_a_timestamp(tmp_path):
    from .factory import open_fast_store

    store = open_fast_store(tmp_path / "db.sqlite")
    rv = store.save_recipe_version("r", {"threshold": 0.5})
    items = [
        NewInspection(
            content_hash=hashlib.sha256(f"{i}".encode()).hexdigest(),
            recipe_version_id=rv.id,
            score=0.1,
            threshold=0.5,
            verdict=Verdict.PASS,
            detector="d",
            model_id="m",
            inspected_at=T0 + timedelta(seconds=i // 10),
        )
        for i in range(47)
    ]
    store.add_inspections(items)
    ids = [r.id for r in iter_records(store, resolve_scope(store, ReportScope()), page=4)]
    assert len(ids) == 47 and set(ids) == {i.id for i in items}
    store.close()


def test_cancel_stops_gathering(station):
    progress = ProgressState()
    seen = []

    def on_progress(done, total, phase):
        seen.append(phase)
        progress.cancel()

    progress._on_progress = on_progress
    with pytest.raises(Cancelled):
        gather_report(station.store, progress=progress)
    assert seen and seen[0] == "Reading inspections"


def test_parse_when():
    now = datetime(2025, 3, 5, 15, 30, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    assert parse_when("2025-03-01", tz=cet) == datetime(2025, 3, 1, tzinfo=cet)
    assert parse_when("2025-03-01", end=True, tz=cet) == datetime(2025, 3, 2, tzinfo=cet)
    assert parse_when("2025-03-01 06:00", end=True, tz=UTC) == datetime(2025, 3, 1, 6, tzinfo=UTC)
    assert parse_when("2025-03-01T06:00+02:00") == datetime(2025, 3, 1, 4, tzinfo=UTC)
    assert parse_when("8h", now=now) == now - timedelta(hours=8)
    assert parse_when("2d", now=now) == now - timedelta(days=2)
    assert parse_when("today", now=now, tz=UTC) == datetime(2025, 3, 5, tzinfo=UTC)
    assert parse_when("yesterday", end=True, now=now, tz=UTC) == datetime(2025, 3, 5, tzinfo=UTC)
    assert parse_when("2025-03-01").tzinfo is not None  # local time, made aware
    with pytest.raises(ReportError, match="Cannot read the time"):
        parse_when("last tuesday")


def test_key_figures_never_call_model_time_a_throughput(report_data):
    """#13: the PDF called "35348 ms per part" throughput; the model's time per part has its own box."""
    from dataclasses import replace

    from inspector.reports.sections import key_figures

    boxes = {label: (value, detail) for label, value, detail in key_figures(report_data)}
    assert "ms" not in " ".join(boxes["Throughput"])
    no_rate = replace(report_data, throughput=replace(report_data.throughput, parts_per_hour=None))
    boxes = {label: (value, detail) for label, value, detail in key_figures(no_rate)}
    assert boxes["Throughput"] == ("-", "too few parts for a rate")
    assert boxes["Model time per part"][0].endswith(" ms")
