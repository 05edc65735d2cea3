"""Opening the database: pragmas, refusal of newer schemas, and a clear message for each failure."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from inspector.store import (
    SCHEMA_VERSION,
    DatabaseCorruptError,
    DatabaseLockedError,
    DiskFullError,
    ReadOnlyError,
    SchemaTooNewError,
    StoreError,
    default_database_path,
    open_database,
    open_store,
)

from .conftest import make_items


def _pragma(store, name: str):
    with store.db.read() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_wal_foreign_keys_and_synchronous_are_on_for_every_connection(store):
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "foreign_keys") == 1
    assert _pragma(store, "synchronous") == 1  # NORMAL: durable against crashes (see engine.py)
    with store.db.engine.connect() as a, store.db.engine.connect() as b:  # two pooled connections
        assert a.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert b.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_durability_full_can_be_chosen(db_path):
    with open_store(db_path, durability="full") as store:
        assert _pragma(store, "synchronous") == 2
        assert store.db.durability == "full"


def test_default_location_is_the_data_folder(_isolated_data_dir):
    assert default_database_path() == _isolated_data_dir / "inspector.db"
    with open_store() as store:
        assert store.db.path == _isolated_data_dir / "inspector.db"
        assert store.artifacts.root == _isolated_data_dir / "artifacts"
        assert store.db.schema_version == SCHEMA_VERSION


def test_reopening_keeps_the_data(db_path, recipe, store):
    store.add_inspections(make_items(5, recipe.id))
    store.close()
    with open_store(db_path) as again:
        assert again.count() == 5 and again.db.migrated_from is None


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_newer_schema_is_refused_and_left_byte_identical(db_path, store, recipe):
    store.add_inspections(make_items(3, recipe.id))
    store.close()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE schema_info SET version = ?, app_version = '9.0.0'", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    before = _files(db_path.parent)

    with pytest.raises(SchemaTooNewError) as caught:
        open_store(db_path)
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message and f"schema version {SCHEMA_VERSION} at most" in message
    assert "9.0.0" in message and "untouched" in message
    assert _files(db_path.parent) == before  # same files, same bytes: no backup, no migration


def test_a_file_that_is_not_a_database_is_refused_untouched(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
    before = db_path.read_bytes()
    with pytest.raises(DatabaseCorruptError, match="not an SQLite database file"):
        open_store(db_path)
    assert db_path.read_bytes() == before


def test_a_damaged_database_gets_a_clear_message(db_path, store, recipe):
    store.add_inspections(make_items(200, recipe.id))
    store.close()
    data = bytearray(db_path.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # keep the header, wreck the first page's contents
    db_path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorruptError, match="damaged"):
        open_store(db_path)


def test_another_programs_database_is_not_adopted(db_path):
    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an Inspector database"):
        open_store(db_path)
    con = sqlite3.connect(db_path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["contacts"]
    con.close()


@contextlib.contextmanager
def _held_write_lock(path: Path):
    """Another program in the middle of a write transaction."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute(
        "INSERT INTO operators (id, name, created_at) VALUES ('x', 'someone else', '2025-01-01 00:00:00.000000')"
    )
    try:
        yield
    finally:
        con.rollback()
        con.close()


def test_a_locked_database_gives_a_clear_message_after_the_busy_timeout(db_path, store, recipe):
    with _held_write_lock(db_path):
        t0 = time.monotonic()
        with pytest.raises(DatabaseLockedError) as caught:
            store.add_inspections(make_items(3, recipe.id))
        waited = time.monotonic() - t0
        assert 0.4 <= waited < 5  # it waited for the busy timeout (0.5 s), then gave up
        assert "in use by another program" in str(caught.value) and str(db_path) in str(caught.value)
        assert store.count() == 0  # readers are not blocked by the writer (WAL)
        with open_store(db_path, busy_timeout_s=0.2) as second:  # opening needs no write lock
            assert second.count() == 0
    assert store.add_inspections(make_items(3, recipe.id)).n_inserted == 3  # fine once released


def _make_read_only(folder: Path) -> list[list[str]]:
    """Make ``folder`` unwritable even for root where possible; returns the commands that undo it."""
    os.chmod(folder, 0o555)
    undo = [["chmod", "755", str(folder)]]
    if os.access(folder, os.W_OK):  # root ignores permission bits: try the immutable attribute
        result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if result.returncode == 0:
            undo.insert(0, ["chattr", "-i", str(folder)])
    try:
        (folder / ".probe").touch()
    except OSError:
        return undo
    (folder / ".probe").unlink()
    _undo(undo)
    pytest.skip("cannot make a folder read-only on this machine")


def _undo(commands: list[list[str]]) -> None:
    for command in commands:
        subprocess.run(command, capture_output=True)


def test_a_read_only_folder_gives_a_clear_message(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    undo = _make_read_only(folder)
    try:
        with pytest.raises(ReadOnlyError, match="read-only") as caught:
            open_store(folder / "inspector.db")
        assert str(folder) in str(caught.value)
    finally:
        _undo(undo)


def test_an_existing_database_in_a_folder_turned_read_only_is_refused(db_path, store, recipe):
    store.add_inspections(make_items(3, recipe.id))
    store.close()
    undo = _make_read_only(db_path.parent)
    try:
        with pytest.raises(ReadOnlyError, match="read-only"):
            open_store(db_path)
    finally:
        _undo(undo)
    with open_store(db_path) as again:  # and nothing was lost
        assert again.count() == 3


def test_a_full_disk_gives_a_clear_message_and_keeps_what_was_stored(db_path, store, recipe):
    # SQLite's page limit produces the same error (SQLITE_FULL) as a full disk.
    pages = _pragma(store, "page_count")

    @event.listens_for(store.db.engine, "connect")
    def _limit(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 120}")

    store.db.engine.dispose()
    stored = 0
    with pytest.raises(DiskFullError) as caught:
        for k in range(100):
            stored += store.add_inspections(make_items(100, recipe.id, start=k * 100)).n_inserted
    assert "full" in str(caught.value) and "NOT stored" in str(caught.value)
    assert 0 < stored < 10_000
    assert store.count() == stored  # the failed batch left nothing half-written
    store.close()
    with open_store(db_path) as again:
        assert again.count() == stored and again.db.check_integrity() == ["ok"]


def test_an_in_memory_database_is_refused():
    with pytest.raises(ValueError, match="database file"):
        open_database("sqlite://")
