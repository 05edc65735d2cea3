"""The red-team cases of the pipeline: a storing step that fails, a database deleted mid-run,
re-runs and skips in the exit code, SIGTERM."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading

import numpy as np

from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import make_source
from inspector.store import InspectionFilter, RunOutcome, open_store
from tests.helpers import write_parts
from tests.pipeline.test_pipeline import setup  # noqa: F401 - the fixture
from tests.pipeline.test_run_cli import _cli, _recipe


def _run(recipe, detector, store, source, **kwargs):
    results = []
    lock = threading.Lock()

    def collect(r):
        with lock:
            results.append(r)

    pipeline = InspectionPipeline(recipe, detector, store, source, on_result=collect, **kwargs)
    return pipeline, pipeline.run(), results


def test_an_error_in_the_storing_step_stops_the_run_and_is_never_swallowed(tmp_path, setup, monkeypatch):  # noqa: F811
    recipe, detector, store = setup
    predict = detector.predict

    def nan_maps(images):  # a detector gone wrong: its maps hold NaN, which the heatmap store refuses
        return [dataclasses.replace(p, anomaly_map=np.full_like(p.anomaly_map, np.nan)) for p in predict(images)]

    monkeypatch.setattr(detector, "predict", nan_maps)
    write_parts(tmp_path / "parts", 2)
    _, summary, results = _run(recipe, detector, store, make_source(tmp_path / "parts"))
    assert store.count() == 0
    assert summary.error and "could not be stored" in summary.error and summary.exit_code == 5
    # the run stops at the first lost part (one batch or two, as the source delivers them)
    assert summary.not_stored >= 1 and "NOT stored" in summary.stop_message
    assert [r.status for r in results] == [PartStatus.ERROR] * summary.not_stored
    assert store.get_run(summary.run_id).status == RunOutcome.ERROR


def test_a_database_deleted_mid_run_stops_it_with_exit_5_and_says_how_many_were_kept(tmp_path, setup):  # noqa: F811
    recipe, detector, store = setup
    write_parts(tmp_path / "parts", 12)
    deleted = threading.Event()

    def delete_after_three(result):
        if result.status is PartStatus.STORED and not deleted.is_set() and len(stored) >= 2:
            os.unlink(store.db.path)
            deleted.set()
        if result.status is PartStatus.STORED:
            stored.append(result)

    stored: list = []
    pipeline = InspectionPipeline(
        recipe, detector, store, make_source(tmp_path / "parts"), batch_size=1, on_result=delete_after_three
    )
    summary = pipeline.run()
    assert deleted.is_set()
    assert summary.exit_code == 5 and "deleted or moved" in summary.error
    assert summary.inspected == len(stored) < 12  # nothing reported stored after the file went
    assert f"{len(stored)} part(s) of this run were committed" in summary.stop_message


def test_a_rerun_of_a_lot_with_failed_parts_exits_1_and_skips_have_their_own_code(tmp_path, setup):  # noqa: F811
    recipe, detector, store = setup
    write_parts(tmp_path / "parts", 6)
    _, first, _ = _run(recipe, detector, store, make_source(tmp_path / "parts"))
    assert first.failed + first.uncertain > 0 and first.exit_code == 1
    _, again, _ = _run(recipe, detector, store, make_source(tmp_path / "parts"))
    assert again.inspected == 0 and again.duplicates == 6
    assert again.duplicates_flagged == first.failed + first.uncertain and again.exit_code == 1

    good = tmp_path / "good"
    good.mkdir()
    (tmp_path / "parts" / "part_001.png").rename(good / "a.png")
    (good / "broken.png").write_bytes(b"\x89PNG not really")
    lenient = dataclasses.replace(recipe, threshold=1e9, uncertain_band=None)
    _, skipped, _ = _run(lenient, detector, store, make_source(good))
    assert skipped.passed == 1 and skipped.skipped == 1 and skipped.exit_code == 6


def test_stored_paths_are_absolute_whatever_the_working_folder(tmp_path, setup, monkeypatch):  # noqa: F811
    recipe, detector, store = setup
    write_parts(tmp_path / "parts", 2)
    monkeypatch.chdir(tmp_path)
    _run(recipe, detector, store, make_source("parts"))
    assert all(os.path.isabs(r.file_path) for r in store.query(InspectionFilter()))


def test_sigterm_ends_a_hot_folder_run_like_ctrl_c_with_a_summary_and_a_closed_run(tmp_path, tiny_registry):
    hot = tmp_path / "hot"
    write_parts(hot, 3)
    db = tmp_path / "db.sqlite"
    cmd, env = _cli(
        "--recipe", str(_recipe(tmp_path)), "--source", f"hot:{hot}", "--include-existing", "--json",
        "--random-weights", "--device", "cpu", "--db", str(db), "-q",
    )  # fmt: skip
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = 0
        while seen < 3:  # wait until the three parts are reported, then stop it as systemd would
            line = child.stdout.readline()
            assert line, child.stderr.read()
            seen += json.loads(line).get("status") == "stored"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    summary = json.loads(out.splitlines()[-1])
    assert child.returncode == 143, err
    assert summary["summary"] and summary["terminated"] and summary["exit_code"] == 143
    assert "Traceback" not in err
    with open_store(db) as store:
        (run,) = store.runs()
        assert run.status == RunOutcome.TERMINATED and run.ended_at is not None
        assert store.count() == 3


def test_a_recipe_error_is_a_plain_message_with_exit_2_and_nothing_starts(tmp_path, tiny_registry):
    path = _recipe(tmp_path)
    body = json.loads(path.read_text())
    body["threshold"] = "high"
    path.write_text(json.dumps(body))
    cmd, env = _cli("--recipe", str(path), "--source", str(tmp_path), "--db", str(tmp_path / "db.sqlite"))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "threshold: must be a number (got 'high')" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "db.sqlite").exists()
