"""The store refuses to report anything stored into a database that is not the one it opened, keeps
what it reported through a (simulated) power cut with ``durability="full"``, and tidies up after a
killed station on the next start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.captioning.gate import GATE_PREFIX, remove_stale_gate_files
from inspector.core.processes import process_tag, tag_alive
from inspector.store import (
    CaptionStatus,
    DatabaseReplacedError,
    InspectionFilter,
    ReadOnlyError,
    RunOutcome,
    StoreError,
    open_store,
)
from tests.faults.util import build_powercut_shim, ext4_disk
from tests.store.conftest import make_items

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def test_a_deleted_database_file_stops_every_write_and_the_next_open_says_so(db_path, store, recipe):
    store.add_inspections(make_items(3, recipe.id))
    store.artifacts.put_bytes(b"thumbnail", ".jpg")
    os.unlink(db_path)  # SQLite would go on writing into the deleted inode, reporting success
    with pytest.raises(DatabaseReplacedError, match="deleted or moved"):
        store.add_inspections(make_items(2, recipe.id, start=10))
    with pytest.raises(DatabaseReplacedError):
        store.record_skip("/parts/x.png", "unreadable")
    store.close()
    with open_store(db_path) as fresh:
        assert fresh.count() == 0
        assert any("previous database was deleted or moved" in n for n in fresh.db.notices)


def test_a_replaced_database_file_is_noticed(db_path, tmp_path, store, recipe):
    store.add_inspections(make_items(2, recipe.id))
    other = tmp_path / "other.db"
    with open_store(other) as second:
        second.save_recipe_version("other", {"threshold": 0.1})
    shutil.copy(other, db_path.with_name("swap.db"))
    os.replace(db_path.with_name("swap.db"), db_path)
    with pytest.raises(DatabaseReplacedError, match="replaced by another file"):
        store.add_inspections(make_items(2, recipe.id, start=5))


def test_a_fresh_database_without_leftover_artifacts_has_no_notice(tmp_path):
    with open_store(tmp_path / "new" / "inspector.db") as store:
        assert store.db.notices == []


# -- power cut --------------------------------------------------------------------------------------
WRITER = """
import sys
from inspector.store import open_store
from tests.store.conftest import make_items
store = open_store(sys.argv[1], durability=sys.argv[2])
recipe = store.save_recipe_version("power", {"threshold": 0.5})
for n in range(20):
    store.add_inspections(make_items(1, recipe.id, start=n))
    print(n, flush=True)
print("done", flush=True)
sys.stdin.read()  # the power is cut here: killed before any checkpoint or close
"""


def _power_cut(tmp_path: Path, durability: str) -> tuple[int, int | None]:
    """Rows reported stored, and rows found after the cut (None: the database has no tables)."""
    shim = build_powercut_shim(tmp_path)
    live, snap = tmp_path / f"live-{durability}", tmp_path / f"disk-{durability}"
    live.mkdir()
    snap.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(live / "inspector.db"), durability],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(LD_PRELOAD=str(shim), POWERCUT_WATCH=str(live), POWERCUT_SNAP=str(snap)),
        cwd=REPO,
    )
    out = []
    while (line := child.stdout.readline().decode().strip()) != "done":
        assert line, child.stderr.read().decode()
        out.append(line)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if not (snap / "inspector.db").exists() and not (snap / "inspector.db-wal").exists():
        return len(out), None  # nothing of the database ever reached the disk
    with open_store(snap / "inspector.db") as after:
        tables = after.recipe_names()
        return len(out), after.count(InspectionFilter()) if tables else None


def test_durability_full_keeps_every_reported_row_through_a_power_cut(tmp_path):
    reported, kept = _power_cut(tmp_path, "full")
    assert reported == 20 and kept == 20


def test_durability_normal_may_lose_the_commits_since_the_last_checkpoint(tmp_path):
    """What ``normal`` trades for speed: the WAL is not fsynced per commit (see engine.py)."""
    reported, kept = _power_cut(tmp_path, "normal")
    assert reported == 20
    assert kept is None or kept < 20  # here: the tables themselves never reached the disk


# -- read-only disk ----------------------------------------------------------------------------------
def _disk_error(tmp_path: Path, durability: str) -> tuple[StoreError, int, int | None]:
    """Store 5 parts, fail the disk (ext4 error: remounted read-only), try to store more.

    Returns the error the next write raised, the parts a read-only report still sees, and the parts
    found after the disk was repaired and mounted again (None: no tables any more).
    """
    with ext4_disk(tmp_path) as disk:
        db = disk.mountpoint / "inspector.db"
        store = open_store(db, durability=durability)
        recipe = store.save_recipe_version("ro", {"threshold": 0.5})
        for n in range(5):
            store.add_inspections(make_items(1, recipe.id, start=n))
        disk.fail()
        with pytest.raises(StoreError) as caught:
            store.add_inspections(make_items(3, recipe.id, start=20))
        with contextlib.suppress(StoreError):
            store.close()
        with pytest.raises(ReadOnlyError):
            open_store(db)  # a writable open is refused with the plain message ...
        with open_store(db, read_only=True) as archive:  # ... and a report can still read it
            assert archive.db.read_only
            seen = archive.count()
        disk.repair_and_remount()
        if not db.exists():
            return caught.value, seen, None
        with open_store(db) as after:
            return caught.value, seen, after.count() if after.recipe_names() else None


def test_a_disk_error_stops_writes_with_a_clear_message_and_full_keeps_every_stored_part(tmp_path):
    error, seen, kept = _disk_error(tmp_path, "full")
    assert isinstance(error, ReadOnlyError) or "disk error" in str(error), error
    assert seen == 5 and kept == 5


def test_a_disk_error_with_durability_normal_may_lose_what_was_not_synced(tmp_path):
    """The red-team case: with ``normal`` the committed parts were still in the unsynced WAL."""
    error, seen, kept = _disk_error(tmp_path, "normal")
    assert isinstance(error, StoreError)
    assert seen == 5  # still in the page cache until the disk is unmounted
    assert kept is None or kept <= 5


# -- tidying up after a killed station ------------------------------------------------------------------
KILLED = """
import sys
from inspector.store import CaptionStatus, open_store
from tests.store.conftest import make_items
from dataclasses import replace
store = open_store(sys.argv[1])
recipe = store.save_recipe_version("killed", {"threshold": 0.5})
run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id)
items = [replace(i, caption_status=CaptionStatus.PENDING) for i in make_items(3, recipe.id, run_id=run.id)]
store.add_inspections(items)
(store.artifacts.root / "ab").mkdir(parents=True, exist_ok=True)
store.artifacts._temp_in(store.artifacts.root / "ab")  # a half-written artifact
print(run.id, flush=True)
sys.stdin.read()
"""


def test_the_next_start_closes_runs_of_a_killed_station_and_tidies_its_leftovers(db_path):
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_env(),
        cwd=REPO,
    )
    run_id = child.stdout.readline().decode().strip()
    with open_store(db_path) as meanwhile:  # the station is still alive: its run stays open
        assert meanwhile.get_run(run_id).status == "running"
        assert list(meanwhile.artifacts.root.glob("ab/.tmp-*"))
    child.send_signal(signal.SIGKILL)
    child.wait()
    with open_store(db_path) as store:
        run = store.get_run(run_id)
        assert run.status == RunOutcome.KILLED and run.ended_at is not None
        records = store.query(InspectionFilter())
        assert {r.caption_status for r in records} == {CaptionStatus.MISSING}
        assert all("stopped before" in r.caption_reason for r in records)
        assert not list(store.artifacts.root.glob("ab/.tmp-*"))
        assert store.verify_audit().ok  # the tidy-up is in the audit trail too


def test_finished_runs_keep_their_outcome(store, recipe):
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id)
    store.finish_run(run.id, outcome=RunOutcome.TERMINATED)
    assert store.get_run(run.id).status == "terminated"


def test_gate_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "from inspector.core.processes import process_tag as t; print(t())"],
                          capture_output=True, text=True, env=_env(), check=True).stdout.strip()  # fmt: skip
    assert not tag_alive(dead) and tag_alive(process_tag())
    (tmp_path / f"{GATE_PREFIX}{dead}-abc").write_bytes(b"\0" * 48)
    (tmp_path / f"{GATE_PREFIX}{process_tag()}-def").write_bytes(b"\0" * 48)
    assert remove_stale_gate_files(str(tmp_path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"{GATE_PREFIX}{process_tag()}-def"]
