"""Inspections, dedupe, runs, recipes, the override audit trail and the review-table queries."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from inspector.core.types import AnomalyPrediction, DetectorInfo
from inspector.store import (
    CaptionStatus,
    InspectionFilter,
    NewInspection,
    NotFoundError,
    Order,
    OverrideKind,
    StoreError,
    Verdict,
)

from .conftest import T0, content_hash, make_items


def test_batch_insert_round_trips_every_field(store, recipe):
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id, operator="Ana")
    items = make_items(3, recipe.id, run_id=run.id)
    result = store.add_inspections(items)
    assert result.ids == tuple(i.id for i in items) and result.n_duplicates == 0

    rec = store.get(items[1].id)
    assert (rec.content_hash, rec.file_path, rec.score, rec.threshold) == (
        content_hash(1), "/parts/img_00001.png", 0.01, 0.5,
    )  # fmt: skip
    assert rec.model_verdict == rec.effective_verdict == Verdict.FAIL
    assert (rec.recipe_name, rec.recipe_version, rec.run_id) == ("bracket-A", 1, run.id)
    assert rec.inspected_at == T0 + timedelta(seconds=1) and rec.inspected_at.tzinfo is not None
    assert (rec.detector, rec.model_id, rec.latency_ms, rec.random_weights) == (
        "fewshot-dinov2", "dinov2-small", 12.5, False,
    )  # fmt: skip
    assert rec.override_count == 0 and rec.last_reviewed_by is None and not rec.overridden


def test_rerunning_the_same_parts_stores_nothing_new(store, recipe):
    first = store.add_inspections(make_items(5, recipe.id))
    again = store.add_inspections(make_items(7, recipe.id))  # 5 old + 2 new
    assert again.duplicate == (True,) * 5 + (False,) * 2
    assert again.ids[:5] == first.ids  # duplicates report the stored id
    assert store.count() == 7
    assert store.has_inspection(content_hash(3), recipe.id)
    assert not store.has_inspection(content_hash(99), recipe.id)
    assert store.find_existing([content_hash(0), content_hash(99)], recipe.id) == {content_hash(0): first.ids[0]}


def test_same_part_twice_in_one_batch_is_stored_once(store, recipe):
    items = make_items(2, recipe.id)
    result = store.add_inspections([items[0], items[1], items[0]])
    assert result.duplicate == (False, False, True) and result.ids[2] == result.ids[0]
    assert store.count() == 2


def test_same_part_under_a_new_recipe_version_is_a_new_inspection(store, recipe):
    store.add_inspections(make_items(3, recipe.id))
    v2 = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.6, "shots": 4})
    assert v2.version == 2
    result = store.add_inspections(make_items(3, v2.id))
    assert result.n_inserted == 3 and store.count() == 6


def test_recipe_version_only_changes_with_content(store, recipe):
    same = store.save_recipe_version("bracket-A", {"shots": 4, "threshold": 0.5, "object": "bracket"})
    assert same.id == recipe.id and same.version == 1
    changed = store.save_recipe_version("bracket-A", {"shots": 2, "threshold": 0.5, "object": "bracket"})
    assert changed.version == 2 and changed.body["shots"] == 2
    assert [v.version for v in store.recipe_versions("bracket-A")] == [1, 2]
    assert store.get_recipe_version(recipe.id).body == {"object": "bracket", "threshold": 0.5, "shots": 4}
    other = store.save_recipe_version("cover-B", {"object": "cover"})
    assert other.version == 1 and store.recipe_names() == ["bracket-A", "cover-B"]
    with pytest.raises(ValueError, match="plain JSON"):
        store.save_recipe_version("bracket-A", {"threshold": float("nan")})


def test_run_counts_follow_model_verdicts_duplicates_and_skips(store, recipe):
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id, operator="Ana", lot="L17")
    store.add_inspections(make_items(7, recipe.id, run_id=run.id))  # pass,fail,unc,pass,fail,unc,pass
    store.add_inspections(make_items(2, recipe.id, run_id=run.id))  # both duplicates
    store.record_skip("/parts/broken.png", "not an image", run_id=run.id)
    done = store.finish_run(run.id)
    assert (done.counts.passed, done.counts.failed, done.counts.uncertain) == (3, 2, 2)
    assert (done.n_duplicates, done.n_skipped, done.operator, done.lot) == (2, 1, "Ana", "L17")
    assert done.ended_at is not None and done.ended_at >= done.started_at
    assert [s.path for s in store.skips(run_id=run.id)] == ["/parts/broken.png"]
    assert store.runs()[0].id == run.id


def test_unknown_recipe_version_or_run_stores_nothing(store, recipe):
    with pytest.raises(NotFoundError, match="Recipe version"):
        store.add_inspections(make_items(2, "no-such-version"))
    with pytest.raises(NotFoundError, match="Run"):
        store.add_inspections(make_items(2, recipe.id, run_id="no-such-run"))
    assert store.count() == 0
    with pytest.raises(NotFoundError):
        store.get("no-such-id")


def test_from_prediction_keeps_the_random_weights_flag(store, recipe):
    import numpy as np

    info = DetectorInfo("winclip", "clip-vit-b-16", "cpu", "float32", random_weights=True)
    item = NewInspection.from_prediction(
        AnomalyPrediction(0.73, np.zeros((4, 4), np.float32)),
        info,
        content_hash=content_hash("p"),
        recipe_version_id=recipe.id,
        threshold=0.5,
        verdict=Verdict.FAIL,
    )
    store.add_inspections([item])
    rec = store.get(item.id)
    assert rec.random_weights and rec.score == pytest.approx(0.73) and rec.detector == "winclip"
    assert store.count(InspectionFilter(random_weights=True)) == 1


def test_input_checks_fail_where_the_bad_value_is_made(recipe):
    good = dict(recipe_version_id=recipe.id, threshold=0.5, verdict="fail", detector="d", model_id="m")
    with pytest.raises(ValueError, match="sha256"):
        NewInspection(content_hash="abc", score=0.1, **good)
    with pytest.raises(ValueError, match="finite"):
        NewInspection(content_hash=content_hash(1), score=float("nan"), **good)
    with pytest.raises(ValueError, match="timezone"):
        NewInspection(content_hash=content_hash(1), score=0.1, inspected_at=datetime(2025, 1, 1), **good)
    with pytest.raises(ValueError):
        NewInspection(content_hash=content_hash(1), score=0.1, **{**good, "verdict": "maybe"})


def test_times_come_back_as_the_same_instant_in_utc(store, recipe):
    cet = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 1, 7, 0, 0, 250000, tzinfo=cet)  # == 06:00:00.25 UTC
    item = make_items(1, recipe.id)[0]
    item = NewInspection(**{**vars(item), "inspected_at": local})
    store.add_inspections([item])
    rec = store.get(item.id)
    assert rec.inspected_at == local and rec.inspected_at.utcoffset() == timedelta(0)
    assert store.count(InspectionFilter(since=datetime(2025, 3, 1, 7, 0, tzinfo=cet))) == 1
    assert store.count(InspectionFilter(since=datetime(2025, 3, 1, 7, 0, 1, tzinfo=cet))) == 0


def test_override_trail_derives_the_effective_verdict(store, recipe):
    item = make_items(1, recipe.id, verdicts=(Verdict.UNCERTAIN,))[0]
    store.add_inspections([item])

    first = store.add_override(item.id, "Ana", Verdict.FAIL, defect_label="scratch", note="edge")
    assert (first.seq, first.previous_verdict, first.new_verdict, first.kind) == (
        1, Verdict.UNCERTAIN, Verdict.FAIL, OverrideKind.OVERRIDE,
    )  # fmt: skip
    second = store.add_override(item.id, "Ben", Verdict.PASS, note="dust, wiped")
    assert (second.previous_verdict, second.previous_defect_label) == (Verdict.FAIL, "scratch")

    rec = store.get(item.id)
    assert rec.model_verdict == Verdict.UNCERTAIN  # the model's verdict is never rewritten
    assert rec.effective_verdict == Verdict.PASS and rec.effective_defect_label is None
    assert (rec.override_count, rec.last_reviewed_by, rec.overridden) == (2, "Ben", True)

    trail = store.history(item.id)
    assert [(o.seq, o.operator, o.new_verdict) for o in trail] == [
        (1, "Ana", Verdict.FAIL), (2, "Ben", Verdict.PASS),
    ]  # fmt: skip
    assert trail[0].created_at <= trail[1].created_at
    assert {o.name for o in store.operators()} == {"Ana", "Ben"}


def test_confirming_keeps_the_verdict_but_marks_the_part_reviewed(store, recipe):
    item = make_items(1, recipe.id, verdicts=(Verdict.FAIL,))[0]
    store.add_inspections([item])
    store.add_override(item.id, "Ana", Verdict.FAIL, defect_label="crack")
    rec = store.get(item.id)
    assert rec.reviewed and not rec.overridden and rec.effective_defect_label == "crack"
    assert store.count(InspectionFilter(reviewed=False)) == 0


def test_undo_appends_a_row_that_restores_the_previous_decision(store, recipe):
    item = make_items(1, recipe.id, verdicts=(Verdict.FAIL,))[0]
    store.add_inspections([item])
    o1 = store.add_override(item.id, "Ana", Verdict.UNCERTAIN, defect_label="stain")
    o2 = store.add_override(item.id, "Ana", Verdict.PASS)

    u1 = store.undo_last_override(item.id, "Ana", note="wrong key")
    assert (u1.kind, u1.undoes_id, u1.new_verdict, u1.defect_label) == (
        OverrideKind.UNDO, o2.id, Verdict.UNCERTAIN, "stain",
    )  # fmt: skip
    assert store.get(item.id).effective_verdict == Verdict.UNCERTAIN

    u2 = store.undo_last_override(item.id, "Ana")  # undoes o1, back to the model's verdict
    assert u2.undoes_id == o1.id and u2.new_verdict == Verdict.FAIL and u2.defect_label is None
    rec = store.get(item.id)
    assert rec.effective_verdict == Verdict.FAIL and rec.override_count == 4  # nothing deleted
    assert [o.seq for o in store.history(item.id)] == [1, 2, 3, 4]

    with pytest.raises(StoreError, match="no operator decision to undo"):
        store.undo_last_override(item.id, "Ana")


def test_the_database_refuses_to_rewrite_the_audit_trail(store, recipe, db_path):
    item = make_items(1, recipe.id)[0]
    store.add_inspections([item])
    store.add_override(item.id, "Ana", Verdict.FAIL)
    con = sqlite3.connect(db_path, isolation_level=None)  # e.g. a database browser, bypassing the store
    try:
        con.execute("PRAGMA foreign_keys = ON")
        for sql in ("UPDATE overrides SET new_verdict = 'pass'", "DELETE FROM overrides"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
        with pytest.raises(sqlite3.DatabaseError, match="cannot be removed"):
            con.execute("DELETE FROM inspections")  # a reviewed part cannot vanish from under its trail
        with pytest.raises(sqlite3.DatabaseError, match="cannot be changed"):
            con.execute("UPDATE inspections SET verdict = 'pass'")
        for sql in ("UPDATE audit_log SET station = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    finally:
        con.close()
    assert store.get(item.id).effective_verdict == Verdict.FAIL


def test_overrides_on_unknown_inspections_are_refused(store):
    with pytest.raises(NotFoundError):
        store.add_override("nope", "Ana", Verdict.FAIL)
    with pytest.raises(StoreError, match="operator name"):
        store.upsert_operator("   ")


def test_query_and_count_match_the_filters(store, recipe):
    v2 = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.7})
    run = store.start_run(source="camera:0", recipe_version_id=recipe.id)
    a = make_items(30, recipe.id, run_id=run.id)
    b = make_items(12, v2.id, start=100)
    store.add_inspections(a)
    store.add_inspections(b)
    flipped = [a[1].id, a[4].id, a[2].id]  # fail -> pass, fail -> pass, uncertain -> fail
    store.add_override(flipped[0], "Ana", Verdict.PASS)
    store.add_override(flipped[1], "Ana", Verdict.PASS)
    store.add_override(flipped[2], "Ana", Verdict.FAIL)
    everything = a + b
    model = {i.id: i.verdict for i in everything}
    effective = {**model, flipped[0]: Verdict.PASS, flipped[1]: Verdict.PASS, flipped[2]: Verdict.FAIL}

    def ids(where, **kw):
        return {r.id for r in store.query(where, limit=1000, **kw)}

    want_fail = {i for i, v in effective.items() if v == Verdict.FAIL}
    f = InspectionFilter(effective_verdict={Verdict.FAIL})
    assert ids(f) == want_fail and store.count(f) == len(want_fail)
    f = InspectionFilter(model_verdict=Verdict.FAIL)
    assert ids(f) == {i for i, v in model.items() if v == Verdict.FAIL}
    f = InspectionFilter(run_id=run.id, effective_verdict={Verdict.FAIL, Verdict.UNCERTAIN}, reviewed=False)
    want = {i.id for i in a if effective[i.id] != Verdict.PASS and i.id not in flipped}
    assert ids(f) == want and store.count(f) == len(want)
    assert store.count(InspectionFilter(reviewed=True)) == 3
    assert store.count(InspectionFilter(recipe_version_id=v2.id)) == 12
    assert store.count(InspectionFilter(recipe_name="bracket-A")) == 42
    window = InspectionFilter(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=20))
    assert ids(window) == {i.id for i in a[10:20]}
    assert ids(InspectionFilter(path_contains="img_0010")) == {i.id for i in b[:10]}
    assert store.count(InspectionFilter(path_contains="%")) == 0  # wildcards are literal
    counts = store.count_by_verdict(InspectionFilter(run_id=run.id))
    assert (counts.passed, counts.failed, counts.uncertain) == tuple(
        sum(effective[i.id] == v for i in a) for v in (Verdict.PASS, Verdict.FAIL, Verdict.UNCERTAIN)
    )
    assert store.count_by_verdict(effective=False).total == 42


def test_pages_cover_the_table_once_in_order(store, recipe):
    items = make_items(23, recipe.id)
    store.add_inspections(items[::-1])  # insertion order must not matter
    newest = [r.id for page in range(4) for r in store.query(offset=page * 7, limit=7)]
    assert newest == [i.id for i in reversed(items)]
    oldest = store.query(limit=3, order=Order.OLDEST)
    assert [r.id for r in oldest] == [i.id for i in items[:3]]
    top = store.query(limit=2, order=Order.SCORE_DESC)
    assert [r.score for r in top] == [0.22, 0.21]
    assert store.query(offset=23) == []


def test_captions_are_filled_in_later(store, recipe):
    item = NewInspection(**{**vars(make_items(1, recipe.id)[0]), "caption_status": CaptionStatus.PENDING})
    store.add_inspections([item])
    pending = InspectionFilter(caption_status=CaptionStatus.PENDING)
    assert [r.id for r in store.query(pending)] == [item.id]
    store.set_caption(
        item.id, status=CaptionStatus.DONE, caption="a scratch near the left hole", defect_type="scratch",
        defect_confidence=0.8,
    )  # fmt: skip
    rec = store.get(item.id)
    assert (rec.caption, rec.caption_status, rec.defect_type, rec.defect_confidence) == (
        "a scratch near the left hole", CaptionStatus.DONE, "scratch", 0.8,
    )  # fmt: skip
    assert store.count(pending) == 0
    assert [r.id for r in store.query(InspectionFilter(caption_contains="SCRATCH near"))] == [item.id]
    assert store.count(InspectionFilter(caption_contains="crack")) == 0
    with pytest.raises(NotFoundError):
        store.set_caption("nope", status=CaptionStatus.MISSING, reason="no captioner")


def test_reads_proceed_while_another_thread_writes(store, recipe):
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for k in range(20):
                store.add_inspections(make_items(50, recipe.id, start=k * 50))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while thread.is_alive():
        seen.append(store.count())
    thread.join()
    assert not errors
    assert seen == sorted(seen)  # every read saw a committed state, never a partial batch
    assert all(n % 50 == 0 for n in seen) and store.count() == 1000


def test_ids_are_unique_uuids_that_carry_their_creation_time(recipe):
    import time
    import uuid

    ids = [i.id for i in make_items(200, recipe.id)]
    assert len(set(ids)) == 200
    assert all(uuid.UUID(i).version == 7 for i in ids)
    created_ms = [uuid.UUID(i).int >> 80 for i in ids]
    assert created_ms == sorted(created_ms) and abs(created_ms[0] / 1000 - time.time()) < 60
