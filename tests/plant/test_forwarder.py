"""Spool -> central PostgreSQL: in order, exactly once, through a stopped and restarted server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text

from inspector.plant import forwarder as fwd
from inspector.plant.forwarder import Forwarder
from inspector.plant.spool import Spool
from inspector.store import InspectionFilter, Verdict, open_store
from inspector.store.domain import CaptionStatus, utc_now
from inspector.store.models import Inspection, Override, Run
from tests.store.conftest import make_items

pytestmark = pytest.mark.postgres


def _station(tmp_path: Path, name: str, n: int, *, start: int = 0):
    store = open_store(tmp_path / name / "inspector.db", station=name)
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket", "threshold": 0.5})
    run = store.start_run(source="folder:/parts", recipe_version_id=recipe.id, operator="ana")
    ids = store.add_inspections(make_items(n, recipe.id, start=start, run_id=run.id)).ids
    return store, recipe, run, list(ids)


def _count(url: str, model) -> int:
    central = open_store(url)
    try:
        with central.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
    finally:
        central.close()


def test_forwards_everything_once_and_replays_idempotently(tmp_path, central_url):
    store, recipe, run, ids = _station(tmp_path, "st-1", 30)
    store.add_override(ids[0], "ana", Verdict.FAIL, defect_label="scratch")
    store.undo_last_override(ids[0], "bob")
    store.set_caption(ids[1], status=CaptionStatus.DONE, caption="a scratch near the bore")
    store.finish_run(run.id)
    f = Forwarder(store.db, central_url, station="st-1")
    assert f.state().waiting > 0
    assert f.drain(timeout=120), f.state().describe()
    assert f.state().describe() == "central database: up to date"

    central = open_store(central_url)
    try:
        assert central.count() == 30
        assert central.get(ids[1]).caption == "a scratch near the bore"  # an update after the insert
        assert [o.operator for o in central.history(ids[0])] == ["ana", "bob"]
        assert central.get_run(run.id).counts == store.get_run(run.id).counts
        assert central.get_run(run.id).ended_at is not None
        assert central.count_by_verdict() == store.count_by_verdict()
    finally:
        central.close()

    # A crash between the central commit and the spool's position: everything is sent again.
    with store.db.write() as conn:
        conn.execute(text("UPDATE plant_cursors SET seq = 0"))
    store.add_inspections(make_items(5, recipe.id, start=100, run_id=run.id))
    f2 = Forwarder(store.db, central_url, station="st-1")
    assert f2.drain(timeout=120), f2.state().describe()
    assert _count(central_url, Inspection) == 35
    assert _count(central_url, Override) == 2
    assert _count(central_url, Run) == 1
    store.close()


def test_station_joining_later_forwards_its_history(tmp_path, central_url):
    store, _recipe, _run, _ids = _station(tmp_path, "st-old", 12)  # stored before any spool existed
    f = Forwarder(store.db, central_url, station="st-old")
    assert f.drain(timeout=120), f.state().describe()
    assert _count(central_url, Inspection) == 12
    store.close()


def test_server_stopped_and_restarted_while_forwarding(tmp_path, central_url, postgres):
    store, recipe, run, _ids = _station(tmp_path, "st-2", 10)
    f = Forwarder(store.db, central_url, station="st-2", retry_s=(0.05, 0.2), connect_timeout_s=2).start()
    try:
        _wait(lambda: f.state().up_to_date, "first batch forwarded")
        postgres.stop("postgres")
        store.add_inspections(make_items(40, recipe.id, start=50, run_id=run.id))  # stored while the server is down
        f.notify()
        _wait(lambda: f.state().error is not None and f.state().waiting > 0, "the forwarder notices the outage")
        state = f.state()
        assert state.unreachable_since is not None and not state.connected
        assert "not reached since" in state.describe() and "waiting in the spool" in state.describe()
        assert store.count() == 50  # nothing lost locally
        postgres.start("postgres")
        _wait(lambda: f.state().up_to_date, "forwarding resumes after the restart")
    finally:
        f.stop()
    assert _count(central_url, Inspection) == 50
    central = open_store(central_url)
    assert central.get_run(run.id).counts == store.get_run(run.id).counts
    central.close()
    store.close()


def test_two_stations_report_centrally_with_a_station_filter(tmp_path, central_url):
    a, *_ = _station(tmp_path, "st-a", 9)
    b, *_ = _station(tmp_path, "st-b", 6, start=1000)  # both have operator "ana" and recipe "bracket-A"
    for store, name in ((a, "st-a"), (b, "st-b")):
        f = Forwarder(store.db, central_url, station=name)
        assert f.drain(timeout=120), f.state().describe()
    central = open_store(central_url)
    try:
        assert central.count() == 15
        total = central.count_by_verdict()
        sa, sb = a.count_by_verdict(), b.count_by_verdict()
        assert (total.passed, total.failed, total.uncertain) == (
            sa.passed + sb.passed,
            sa.failed + sb.failed,
            sa.uncertain + sb.uncertain,
        )
        assert central.count(InspectionFilter(station="st-b")) == 6
        assert {r.station for r in central.query(InspectionFilter(station="st-a"), limit=100)} == {"st-a"}
    finally:
        central.close()
        a.close()
        b.close()


def test_two_stations_with_the_same_id_are_refused_without_loss(tmp_path, central_url):
    first, *_ = _station(tmp_path / "one", "line-1", 4)
    second, *_ = _station(tmp_path / "two", "line-1", 7, start=500)
    assert Forwarder(first.db, central_url, station="line-1").drain(timeout=120)
    f = Forwarder(second.db, central_url, station="line-1", retry_s=(0.05, 0.1))
    assert not f.drain(timeout=1)
    state = f.state()
    assert "already uses the station id 'line-1'" in state.describe() and state.waiting > 0
    assert _count(central_url, Inspection) == 4
    assert Spool(second.db).waiting(fwd.CONSUMER) == state.waiting  # still waiting: nothing lost
    first.close()
    second.close()


def test_wrong_password_and_unreachable_server_are_plain_messages(tmp_path, postgres):
    store, *_ = _station(tmp_path, "st-3", 3)
    wrong = Forwarder(store.db, postgres.pg_url(password="not-it"), station="st-3")
    assert not wrong.drain(timeout=0.5)
    assert "refused the user name or password" in wrong.state().error
    nowhere = Forwarder(
        store.db, "postgresql://inspector:inspector@127.0.0.1:9/none", station="st-3", connect_timeout_s=2
    )
    assert not nowhere.drain(timeout=0.5)
    assert "Cannot reach the database server" in nowhere.state().error
    assert nowhere.state().waiting == wrong.state().waiting > 0
    store.close()


def test_station_clock_behind_the_server_is_shown(tmp_path, central_url):
    store, *_ = _station(tmp_path, "st-4", 2)
    f = Forwarder(store.db, central_url, station="st-4", clock=lambda: utc_now() - timedelta(seconds=90))
    assert f.drain(timeout=120)
    assert f.state().clock_offset_s == pytest.approx(90, abs=10)
    assert "clock is 90 s behind the server's" in f.state().describe()
    store.close()


def test_artifacts_go_to_the_shared_folder(tmp_path, central_url):
    store = open_store(tmp_path / "st" / "inspector.db", station="st-5")
    recipe = store.save_recipe_version("r", {"x": 1})
    heat = store.artifacts.save_heatmap(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    item = make_items(1, recipe.id)[0]
    from dataclasses import replace

    store.add_inspections([replace(item, heatmap_artifact=heat)])
    shared = tmp_path / "shared-artifacts"
    f = Forwarder(store.db, central_url, station="st-5", shared_artifacts=shared)
    assert f.drain(timeout=120)
    assert (shared / heat).read_bytes() == store.artifacts.path(heat).read_bytes()
    store.close()


def test_audit_trail_is_append_only_on_postgresql(tmp_path, central_url):
    store, _recipe, _run, ids = _station(tmp_path, "st-6", 2)
    store.add_override(ids[0], "ana", Verdict.FAIL)
    assert Forwarder(store.db, central_url, station="st-6").drain(timeout=120)
    central = open_store(central_url)
    for statement in ("UPDATE overrides SET note = 'rewritten'", "DELETE FROM overrides", "TRUNCATE overrides"):
        with pytest.raises(sa_exc.DBAPIError, match="append-only"), central.db.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(central.history(ids[0])) == 1
    central.close()
    store.close()


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


def test_full_central_disk_pauses_forwarding_and_loses_nothing(tmp_path, postgres):
    """The central database lives on a tiny file system (a tmpfs tablespace) that fills up."""
    import os
    import shutil
    import subprocess
    import tempfile
    import uuid
    from dataclasses import replace

    import psycopg

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small file system for the full-disk test")
    mnt = Path(tempfile.mkdtemp(prefix="inspector-tiny-"))
    mnt.chmod(0o755)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs is not permitted here")
    name = f"t_full_{uuid.uuid4().hex[:8]}"
    admin = f"host=127.0.0.1 port={postgres.pg_port} user=inspector password=inspector dbname=postgres"
    try:
        space = mnt / "pg"
        space.mkdir()
        shutil.chown(space, "postgres", "postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {name} LOCATION '{space}'")
            conn.execute(f"CREATE DATABASE {name} TABLESPACE {name}")
        url = postgres.pg_url(name)
        store = open_store(tmp_path / "st" / "inspector.db", station="st-full")
        recipe = store.save_recipe_version("r", {"x": 1})
        filler = os.urandom(150_000).hex()  # incompressible: each row takes ~300 kB on the server
        items = [replace(it, file_path=f"{filler}-{i}") for i, it in enumerate(make_items(120, recipe.id))]
        store.add_inspections(items)
        f = Forwarder(store.db, url, station="st-full", batch_size=10, retry_s=(0.05, 0.2))
        while f._step():  # batch after batch until the server refuses one
            pass
        state = f.state()
        assert "disk is full" in state.describe() and "Nothing is lost" in state.describe(), state.describe()
        assert state.waiting > 0 and store.count() == 120
        subprocess.run(["mount", "-o", "remount,size=512m", str(mnt)], check=True)
        assert f.drain(timeout=120), f.state().describe()
        assert _count(url, Inspection) == 120
        store.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"DROP TABLESPACE IF EXISTS {name}")
        subprocess.run(["umount", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


def test_audit_chains_verify_on_the_central_database(tmp_path, central_url):
    """Hash-chain columns are forwarded verbatim: each station's chain verifies on PostgreSQL too."""
    stores = []
    for name, start in (("st-c1", 0), ("st-c2", 300)):
        store, _recipe, run, ids = _station(tmp_path, name, 8, start=start)
        store.add_override(ids[0], "ana", Verdict.FAIL, defect_label="scratch")
        store.undo_last_override(ids[0], "ana")
        store.set_caption(ids[1], status=CaptionStatus.DONE, caption="dent")
        store.finish_run(run.id)
        assert store.verify_audit().ok
        f = Forwarder(store.db, central_url, station=name)
        assert f.drain(timeout=120), f.state().describe()
        stores.append(store)
    central = open_store(central_url)
    try:
        report = central.verify_audit()
        assert report.ok, report.summary()
        assert report.entries == sum(s.verify_audit().entries for s in stores)
        with pytest.raises(sa_exc.DBAPIError, match="cannot be changed"), central.db.engine.begin() as conn:
            conn.execute(text("UPDATE inspections SET score = 0.01 WHERE station = 'st-c2'"))
        with pytest.raises(sa_exc.DBAPIError, match="cannot be removed"), central.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM inspections WHERE station = 'st-c2'"))
        with central.db.engine.begin() as conn:  # what the server's rules allow, the chain still catches
            conn.execute(text("UPDATE inspections SET caption = 'rewritten' WHERE station = 'st-c2'"))
        report = central.verify_audit()
        assert not report.ok and "changed outside the station" in report.summary()
    finally:
        central.close()
        for s in stores:
            s.close()
