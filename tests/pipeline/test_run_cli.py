"""``inspector run`` as a script uses it: JSON lines, exit codes, kill -9, re-runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from inspector.core.recipe import Recipe, save_recipe
from inspector.store import open_store
from tests.conftest import shared_dataset
from tests.helpers import write_parts, write_reference


def _recipe(tmp_path, model="tiny-dino", resolution=56, threshold=0.05):
    ref = write_reference(tmp_path / "ref.png")
    path = tmp_path / "recipe.json"
    save_recipe(
        Recipe(
            name="bracket",
            object_name="bracket",
            detector="anomalydino",
            model=model,
            references=(str(ref),),
            threshold=threshold,
            detector_params={"resolution": resolution},
        ),
        path,
    )
    return path


def _cli(*args, env_extra=None):
    return [sys.executable, "-m", "inspector", "run", *args], dict(os.environ, **(env_extra or {}))


def test_run_json_lines_summary_and_exit_code(tmp_path, tiny_registry):
    write_parts(tmp_path / "parts", 6)
    cmd, env = _cli(
        "--recipe",
        str(_recipe(tmp_path)),
        "--source",
        str(tmp_path / "parts"),
        "--json",
        "--random-weights",
        "--device",
        "cpu",
        "--db",
        str(tmp_path / "db.sqlite"),
    )
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    parts, summary = lines[:-1], lines[-1]
    assert summary["summary"] and summary["pass"] + summary["fail"] + summary["uncertain"] == 6
    assert summary["random_weights"] is True
    assert len(parts) == 6 and all(p["status"] == "stored" and p["random_weights"] for p in parts)
    assert out.returncode == (1 if summary["fail"] or summary["uncertain"] else 0)


def test_missing_source_gives_exit_code_4_and_a_clear_message(tmp_path, tiny_registry):
    cmd, env = _cli(
        "--recipe",
        str(_recipe(tmp_path)),
        "--source",
        str(tmp_path / "nowhere"),
        "--random-weights",
        "--db",
        str(tmp_path / "db.sqlite"),
    )
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stderr
    assert "nowhere" in out.stderr and "Traceback" not in out.stderr


def test_kill_9_mid_run_loses_no_reported_verdict_and_leaves_a_sound_database(tmp_path, tiny_registry):
    write_parts(tmp_path / "parts", 400)
    db = tmp_path / "db.sqlite"
    cmd, env = _cli(
        "--recipe",
        str(_recipe(tmp_path)),
        "--source",
        str(tmp_path / "parts"),
        "--json",
        "-q",
        "--random-weights",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--db",
        str(db),
    )
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    reported = []
    deadline = time.monotonic() + 240
    while len(reported) < 30 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        record = json.loads(line)
        if record.get("status") == "stored":
            reported.append(record["inspection_id"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 30, "the run ended before it could be killed mid-way"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in conn.execute("SELECT id FROM inspections")}
    assert set(reported) <= ids
    assert len(ids) < 400  # it really was killed mid-run
    with open_store(db) as store:  # and the station opens it again
        assert store.count() == len(ids)


def test_run_over_ball_screw_stores_every_image_once_and_rerun_adds_nothing(tmp_path):
    """The issue's own check, with the real DINOv2-small architecture (random weights)."""
    test_dir = shared_dataset("bsdata") / "ball_screw" / "test"
    train = sorted((shared_dataset("bsdata") / "ball_screw" / "train" / "good").iterdir())[0]
    recipe = tmp_path / "ball.json"
    save_recipe(
        Recipe(
            name="ball screw", object_name="ball screw", detector="anomalydino", references=(str(train),), threshold=0.3
        ),
        recipe,
    )
    n_images = sum(1 for p in test_dir.rglob("*.jpg"))
    db = tmp_path / "db.sqlite"
    cmd, env = _cli(
        "--recipe",
        str(recipe),
        "--source",
        str(test_dir),
        "--recursive",
        "--json",
        "-q",
        "--random-weights",
        "--db",
        str(db),
    )
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode in (0, 1), first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert summary["pass"] + summary["fail"] + summary["uncertain"] == n_images == 100
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    again = json.loads(second.stdout.splitlines()[-1])
    assert again["pass"] + again["fail"] + again["uncertain"] == 0 and again["duplicates"] == n_images
    with open_store(db) as store:
        assert store.count() == n_images


def test_database_from_a_newer_station_is_refused_and_left_untouched(tmp_path, tiny_registry):
    db = tmp_path / "db.sqlite"
    with open_store(db):
        pass
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = next(t for t in tables if "schema" in t)
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        conn.execute(f"UPDATE {table} SET {next(c for c in cols if 'version' in c)} = 999")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()
    write_parts(tmp_path / "parts", 2)
    cmd, env = _cli(
        "--recipe", str(_recipe(tmp_path)), "--source", str(tmp_path / "parts"), "--random-weights", "--db", str(db)
    )
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "newer" in out.stderr.lower() and "Traceback" not in out.stderr
    assert db.read_bytes() == before
