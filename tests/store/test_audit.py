"""The audit hash chain: ``verify`` names the tampered row for every way of editing the database by hand.

Each tampering goes through raw ``sqlite3`` (a database browser, bypassing the station), after
dropping whatever trigger stands in the way, exactly as someone with write access to the file could.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from inspector.cli import main
from inspector.store import Verdict, open_store
from inspector.store import audit as audit_mod

from .conftest import make_items

TRIGGERS = (
    "overrides_append_only_update",
    "overrides_append_only_delete",
    "audit_log_append_only_update",
    "audit_log_append_only_delete",
    "inspections_keep_delete",
    "inspections_keep_verdict",
)


@pytest.fixture
def station(db_path):
    """A day at the station: two operators, a recipe, a run, 6 parts, 3 decisions (one undone)."""
    store = open_store(db_path, station="st-1")
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.5})
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id, operator="ana")
    items = make_items(6, recipe.id, run_id=run.id)
    store.add_inspections(items)
    store.finish_run(run.id)
    decisions = [
        store.add_override(items[1].id, "ana", Verdict.PASS, note="cosmetic"),
        store.add_override(items[2].id, "bob", Verdict.FAIL, defect_label="scratch"),
    ]
    decisions.append(store.undo_last_override(items[2].id, "bob"))
    store.record_skip("/parts/broken.png", "not an image", run_id=run.id)
    report = store.verify_audit()
    assert report.ok, report.findings
    store.close()  # leaves the head next to the database
    return {"items": items, "decisions": decisions, "recipe": recipe, "run": run}


def _sql(db_path, *statements, drop=TRIGGERS):
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        for name in drop:
            con.execute(f"DROP TRIGGER IF EXISTS {name}")
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _verify(db_path, *anchors):
    with open_store(db_path) as store:
        return store.verify_audit(anchors)


def _cli(capsys, *args):
    code = main(["audit", "verify", *args])
    return code, capsys.readouterr().out


def test_a_normal_database_verifies_and_keeps_its_head_next_to_it(db_path, station, capsys):
    anchor = audit_mod.anchor_path(db_path)
    assert anchor.exists()
    head = audit_mod.load_anchor(anchor)
    report = _verify(db_path)
    assert report.ok and report.anchors_checked == 1 and report.head.seq == head.seq
    # every audited row has its entry: 2 operators, recipe + version, run (+ its end), 6 parts, 3 decisions, 1 skip
    assert report.rows == 2 + 2 + 1 + 6 + 3 + 1
    code, out = _cli(capsys, "--db", str(db_path))
    assert code == 0 and "Audit trail verified" in out


def test_trigger_dropped_and_decision_edited(db_path, station, capsys):
    target = station["decisions"][0]
    _sql(db_path, f"UPDATE overrides SET new_verdict = 'fail' WHERE id = '{target.id}'")
    report = _verify(db_path)
    assert not report.ok
    changed = [f for f in report.findings if f.row_id == target.id]
    assert changed and changed[0].table == "overrides"
    assert 'new_verdict was "pass", now "fail"' in changed[0].what
    # reopening recreated the guards, and the trail says that they had been removed
    assert any("guards were missing" in f.what for f in report.findings)
    code, out = _cli(capsys, "--db", str(db_path), "--all")
    assert code == 1 and target.id in out and "BROKEN" in out


def test_table_rebuilt_without_a_decision(db_path, station):
    gone = station["decisions"][1]
    _sql(
        db_path,
        "PRAGMA foreign_keys = OFF",
        f"CREATE TABLE overrides_new AS SELECT * FROM overrides WHERE id != '{gone.id}'",
        "DROP TABLE overrides",
        "ALTER TABLE overrides_new RENAME TO overrides",
    )
    report = _verify(db_path)
    assert [f for f in report.findings if f.row_id == gone.id and "was deleted" in f.what]


def test_operator_renamed(db_path, station):
    with open_store(db_path) as store:
        ana = next(o for o in store.operators() if o.name == "ana")
    _sql(db_path, "UPDATE operators SET name = 'carl' WHERE name = 'ana'", drop=())
    report = _verify(db_path)
    assert report.first is not None and report.first.table == "operators" and report.first.row_id == ana.id
    assert 'name was "ana", now "carl"' in report.first.what


def test_inspection_edited(db_path, station):
    part = station["items"][3]
    _sql(db_path, f"UPDATE inspections SET score = 0.01, verdict = 'fail' WHERE id = '{part.id}'")
    report = _verify(db_path)
    found = [f for f in report.findings if f.row_id == part.id]
    assert found and found[0].table == "inspections" and "score was" in found[0].what and "verdict was" in found[0].what
    assert found[0].at == part.inspected_at


def test_inspection_deleted(db_path, station):
    part = station["items"][5]  # never reviewed: no foreign key holds it
    _sql(db_path, f"DELETE FROM inspections WHERE id = '{part.id}'")
    report = _verify(db_path)
    assert [f for f in report.findings if f.row_id == part.id and f.table == "inspections" and "deleted" in f.what]


def test_forged_back_dated_decision(db_path, station):
    part = station["items"][4]
    with open_store(db_path) as store:
        bob = next(o for o in store.operators() if o.name == "bob")
    _sql(
        db_path,
        "INSERT INTO overrides (id, inspection_id, seq, kind, undoes_id, operator_id, created_at, previous_verdict, "
        f"new_verdict, previous_defect_label, defect_label, note) VALUES ('forged', '{part.id}', 1, 'override', "
        f"NULL, '{bob.id}', '2025-03-01 05:00:00.000000', 'pass', 'fail', NULL, NULL, 'seen at 5')",
        drop=(),
    )
    report = _verify(db_path)
    assert report.first.row_id == "forged" and "not in the audit trail" in report.first.what
    assert report.first.at == datetime(2025, 3, 1, 5, 0, tzinfo=UTC)


def test_forged_decision_with_its_own_chain_entry_is_still_back_dated(db_path, station):
    """A forger who appends a well-formed entry with this very code is caught by the dates."""
    part = station["items"][4]
    with open_store(db_path) as store:
        bob = next(o for o in store.operators() if o.name == "bob")
        with store.db.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO overrides (id, inspection_id, seq, kind, undoes_id, operator_id, created_at, "
                "previous_verdict, new_verdict, previous_defect_label, defect_label, note) VALUES ('forged', "
                f"'{part.id}', 1, 'override', NULL, '{bob.id}', '2025-03-01 05:00:00.000000', 'pass', 'fail', "
                "NULL, NULL, 'seen at 5')"
            )
            audit_mod.record_rows(conn, "overrides", ["forged"], station="st-1")
    report = _verify(db_path)
    assert report.first.row_id == "forged" and "back-dated" in report.first.what


def test_an_edited_audit_entry_breaks_the_chain_there(db_path, station):
    target = station["decisions"][0]
    with open_store(db_path) as store, store.db.read() as conn:
        seq = conn.exec_driver_sql(f"SELECT seq FROM audit_log WHERE row_id = '{target.id}'").scalar()
    # edit the row and its entry alike, so that the row matches the (edited) entry
    _sql(
        db_path,
        f"UPDATE overrides SET note = 'other' WHERE id = '{target.id}'",
        f"UPDATE audit_log SET content = replace(content, 'cosmetic', 'other') WHERE seq = {seq}",
    )
    report = _verify(db_path)
    altered = [f for f in report.findings if f.table == "audit_log" and f.row_id == str(seq)]
    assert altered and "was altered" in altered[0].what


def test_entries_removed_from_the_tail_are_caught_by_the_saved_head(db_path, station):
    # remove the last decision, its entries and make the in-database head agree: only the file knows
    last = station["decisions"][-1]
    con = sqlite3.connect(db_path)
    (top,) = con.execute("SELECT max(seq) FROM audit_log").fetchone()
    (seq,) = con.execute(f"SELECT seq FROM audit_log WHERE row_id = '{last.id}'").fetchone()
    con.close()
    _sql(
        db_path,
        f"DELETE FROM overrides WHERE id = '{last.id}'",
        f"DELETE FROM audit_log WHERE seq >= {seq}",
        f"UPDATE audit_head SET seq = {seq - 1}, hash = (SELECT hash FROM audit_log WHERE seq = {seq - 1})",
        f"DELETE FROM skipped_items WHERE id IN (SELECT row_id FROM audit_log WHERE seq > {seq})",
    )
    assert seq < top
    report = _verify(db_path)
    assert [f for f in report.findings if "saved head" in f.what and "entries were removed" in f.what]


def test_a_whole_rewritten_trail_is_caught_only_by_an_exported_head(db_path, station, tmp_path, capsys):
    """Honest limit: with write access and this code, the chain can be rebuilt consistently."""
    exported = tmp_path / "head-kept-by-qa.json"
    assert main(["audit", "head", "--db", str(db_path), "-o", str(exported)]) == 0
    target = station["decisions"][0]
    audit_mod.anchor_path(db_path).unlink()  # the forger removes the file next to the database too
    with open_store(db_path) as store, store.db.write() as conn:
        guards = {
            name: conn.exec_driver_sql(f"SELECT sql FROM sqlite_master WHERE name = '{name}'").scalar()
            for name in TRIGGERS
        }
        for name in guards:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        conn.exec_driver_sql(f"UPDATE overrides SET new_verdict = 'fail' WHERE id = '{target.id}'")
        conn.exec_driver_sql("DELETE FROM audit_log")
        conn.exec_driver_sql("DELETE FROM audit_head")
        audit_mod.seal_existing(conn, station="st-1")
        for sql in guards.values():
            conn.exec_driver_sql(sql)
    assert _verify(db_path).ok  # nothing inside the station can tell
    code, out = _cli(capsys, "--db", str(db_path), "--anchor", str(exported))
    assert code == 1 and "saved head" in out


def test_a_schema_2_database_is_sealed_when_it_is_migrated(tmp_path):
    from .test_migrations import V1_DATA, V1_SCHEMA

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA + V1_DATA)
    con.close()
    with open_store(path) as store:
        report = store.verify_audit()
        assert report.ok and report.sealed_rows == report.rows > 0
        store.add_override("in-1", "Ana", Verdict.PASS)
        assert store.verify_audit().ok


def test_the_chain_is_computed_from_canonical_values_not_sql():
    """The same row read from another database (other types for the same values) hashes the same."""
    when = datetime(2025, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)
    a = audit_mod.canonical_row("overrides", {"id": "x", "created_at": when, "new_verdict": Verdict.FAIL, "s": 0.1})
    b = audit_mod.canonical_row(
        "overrides", {"id": "x", "created_at": when.replace(tzinfo=None), "new_verdict": "fail", "s": 0.1}
    )
    assert audit_mod.dumps(a) == audit_mod.dumps(b)
    assert json.loads(audit_mod.dumps(a))["created_at"] == "2025-03-01T06:00:00.123456Z"
