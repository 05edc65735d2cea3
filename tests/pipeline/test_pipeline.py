"""The headless pipeline end to end: source -> tiny real detector -> verdict -> SQLite."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from inspector.core.progress import ProgressState
from inspector.core.types import Verdict
from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import make_source
from inspector.store import DiskFullError, InspectionFilter, open_store
from tests.helpers import bracket_recipe, fitted_tiny_dino, write_parts


@pytest.fixture
def setup(tmp_path, tiny_registry):
    recipe = bracket_recipe(tmp_path / "ref.png", uncertain_band=(0.04, 0.06))
    detector = fitted_tiny_dino(recipe)
    store = open_store(tmp_path / "data" / "inspector.db")
    yield recipe, detector, store
    store.close()


def run(recipe, detector, store, spec, **kwargs):
    results = []
    lock = threading.Lock()

    def collect(r):
        with lock:
            results.append(r)

    pipeline = InspectionPipeline(recipe, detector, store, make_source(spec), on_result=collect, **kwargs)
    return pipeline.run(), results


def test_folder_run_stores_every_image_once_and_rerun_adds_nothing(tmp_path, setup):
    recipe, detector, store = setup
    paths = write_parts(tmp_path / "parts", 12)
    summary, results = run(recipe, detector, store, tmp_path / "parts", batch_size=4)
    assert summary.inspected == 12 and summary.duplicates == 0 and summary.error is None
    assert store.count() == 12
    stored = [r for r in results if r.status is PartStatus.STORED]
    assert sorted(r.path for r in stored) == sorted(str(p) for p in paths)
    for r in stored:  # what the pipeline reported is what the database holds
        record = store.get(r.inspection_id)
        assert record.score == pytest.approx(r.score)
        assert record.model_verdict == recipe.verdict(r.score) == r.verdict
        assert record.random_weights is True
        assert store.artifacts.exists(record.heatmap_artifact) and store.artifacts.exists(record.thumbnail_artifact)
        assert (record.image_artifact is not None) == (record.model_verdict is not Verdict.PASS)  # keep_images=flagged
    counts = store.count_by_verdict(effective=False)
    assert (counts.passed, counts.failed, counts.uncertain) == (summary.passed, summary.failed, summary.uncertain)
    assert summary.failed > 0 and summary.passed > 0  # the pasted squares are found, clean parts pass

    again, results2 = run(recipe, detector, store, tmp_path / "parts", batch_size=4)
    assert again.inspected == 0 and again.duplicates == 12
    assert store.count() == 12
    assert {r.status for r in results2} == {PartStatus.DUPLICATE}
    run_record = store.get_run(summary.run_id)
    assert run_record.ended_at is not None
    assert run_record.counts.total == 12
    rerun_record = store.get_run(again.run_id)
    assert rerun_record.n_duplicates == 12 and rerun_record.counts.total == 0


def test_unreadable_files_are_recorded_with_reason_and_the_run_goes_on(tmp_path, setup):
    recipe, detector, store = setup
    folder = tmp_path / "mixed"
    write_parts(folder, 3)
    (folder / "empty.png").write_bytes(b"")
    good = (folder / "part_000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("this is not an image")
    huge = folder / "huge.png"
    huge.write_bytes(_forged_png(20000, 20000))
    summary, results = run(recipe, detector, store, folder)
    assert summary.inspected == 3 and summary.skipped == 4
    skips = {s.path.rsplit("/", 1)[-1]: s.reason for s in store.skips(run_id=summary.run_id)}
    assert set(skips) == {"empty.png", "truncated.png", "notes.jpg", "huge.png"}
    assert "0 bytes" in skips["empty.png"] or "empty" in skips["empty.png"].lower()
    assert "20000" in skips["huge.png"] or "pixels" in skips["huge.png"].lower()
    assert all(r.reason for r in results if r.status is PartStatus.SKIPPED)


def _forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression-bomb stand-in)."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_video_file_source_stores_every_frame(tmp_path, setup):
    import cv2

    recipe, detector, store = setup
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (96, 80))
    rng = np.random.default_rng(1)
    for _ in range(15):
        writer.write(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8))
    writer.release()
    summary, results = run(recipe, detector, store, str(path), batch_size=4)
    assert summary.inspected == 15 and summary.dropped_frames == 0
    stored = sorted(r.index for r in results if r.status is PartStatus.STORED)
    assert stored == list(range(15))
    # frames have no file of their own: flagged ones keep a JPEG copy in the artifact store
    flagged = store.query(InspectionFilter(model_verdict={Verdict.FAIL, Verdict.UNCERTAIN}), limit=100)
    assert all(r.image_artifact and r.image_artifact.endswith(".jpg") for r in flagged)


def test_cancel_stops_the_run_and_keeps_what_was_scored(tmp_path, setup):
    recipe, detector, store = setup
    write_parts(tmp_path / "many", 40)
    progress = ProgressState()
    stored = []

    def on_result(r):
        if r.status is PartStatus.STORED:
            stored.append(r.inspection_id)
            if len(stored) == 5:
                progress.cancel()

    pipeline = InspectionPipeline(
        recipe, detector, store, make_source(tmp_path / "many"), batch_size=2, on_result=on_result, progress=progress
    )
    summary = pipeline.run()
    assert summary.cancelled
    assert 5 <= summary.inspected < 40
    assert store.count() == summary.inspected
    assert all(store.get(i) for i in stored)


def test_a_full_disk_stops_the_run_with_a_clear_error_and_keeps_earlier_verdicts(tmp_path, setup, monkeypatch):
    recipe, detector, store = setup
    write_parts(tmp_path / "parts", 10)
    real_add = store.add_inspections
    calls = {"n": 0}

    def failing_add(batch):
        calls["n"] += 1
        if calls["n"] > 1:
            raise DiskFullError("The disk holding the database is full: free space and start again.")
        return real_add(batch)

    monkeypatch.setattr(store, "add_inspections", failing_add)
    summary, results = run(recipe, detector, store, tmp_path / "parts", batch_size=1)
    assert summary.error_kind == "store" and "full" in summary.error
    stored = [r for r in results if r.status is PartStatus.STORED]
    assert len(stored) >= 1 and store.count() == len(stored)
    assert any(r.status is PartStatus.ERROR for r in results)
