"""Operators' caption corrections: append-only, in the audit hash chain, the effective caption of a part."""

from __future__ import annotations

import sqlite3

import pytest

from inspector.store import CaptionStatus, InspectionFilter, NotFoundError, StoreError, open_store

from .conftest import make_items


@pytest.fixture
def part(store, recipe):
    item = make_items(1, recipe.id)[0]
    store.add_inspections([item])
    store.set_caption(item.id, status=CaptionStatus.DONE, caption="a close-up photo of a bracket with a hole")
    return item.id


def test_the_newest_correction_is_the_effective_caption_and_the_machine_caption_stays(store, part):
    first = store.correct_caption(part, "ana", "  pitting   near the thread ")
    second = store.correct_caption(part, "bob", "pitting on the third thread", note="seen under the loupe")
    record = store.get(part)
    assert record.caption == "a close-up photo of a bracket with a hole"  # the captioner's text is kept
    assert record.corrected_caption == "pitting on the third thread"
    assert record.effective_caption == "pitting on the third thread"
    assert record.caption_corrected_by == "bob" and record.caption_corrected
    assert first.caption == "pitting near the thread"  # whitespace tidied, nothing else changed
    assert first.machine_caption == "a close-up photo of a bracket with a hole"
    assert [c.seq for c in store.caption_corrections(part)] == [1, 2]
    assert store.caption_corrections(part)[1].note == "seen under the loupe"
    assert second.operator == "bob"


def test_an_uncorrected_part_shows_the_machine_caption(store, part):
    record = store.get(part)
    assert record.corrected_caption is None and not record.caption_corrected
    assert record.effective_caption == record.caption


def test_empty_too_long_or_unknown_corrections_are_refused_and_nothing_is_stored(store, part):
    with pytest.raises(StoreError, match="cannot be empty"):
        store.correct_caption(part, "ana", "   ")
    with pytest.raises(StoreError, match="at most 1000"):
        store.correct_caption(part, "ana", "x" * 1001)
    with pytest.raises(NotFoundError):
        store.correct_caption("no-such-part", "ana", "a scratch")
    assert store.caption_corrections(part) == []


def test_corrections_are_in_the_audit_chain_and_cannot_be_edited(db_path, store, part):
    correction = store.correct_caption(part, "ana", "a dent on the rim")
    report = store.verify_audit()
    assert report.ok, report.findings
    with store.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT action, content FROM audit_log WHERE table_name = 'caption_corrections' AND row_id = ?",
            (correction.id,),
        ).fetchall()
    assert len(rows) == 1 and rows[0][0] == "insert" and "a dent on the rim" in rows[0][1]
    store.close()
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE caption_corrections SET caption = 'nothing'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM caption_corrections")
        con.execute("DROP TRIGGER caption_corrections_append_only_update")  # someone with a database browser
        con.execute("UPDATE caption_corrections SET caption = 'nothing'")
    finally:
        con.close()
    reopened = open_store(db_path)
    try:
        report = reopened.verify_audit()
        assert not report.ok
        assert any(f.table == "caption_corrections" and "a dent on the rim" in f.what for f in report.findings)
    finally:
        reopened.close()


def test_corrected_parts_are_found_by_their_corrected_text(store, recipe, part):
    others = make_items(3, recipe.id, start=10)
    store.add_inspections(others)
    store.correct_caption(others[1].id, "ana", "Rust stain on the flange")
    store.correct_caption(part, "ana", "a crack")
    assert [r.id for r in store.corrected_records()] == [part, others[1].id]  # oldest inspection first
    assert [r.id for r in store.query(InspectionFilter(search="rust stain"))] == [others[1].id]
    assert [r.id for r in store.corrected_records(InspectionFilter(recipe_name="none"))] == []
