"""The wrong part on the line and a video's score timeline, through the real pipeline and store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from inspector.core.recipe import save_recipe
from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import make_source
from inspector.store import InspectionFilter, open_store
from tests.helpers import bracket_recipe
from tests.pipeline.known_lots import (
    ball_screw_recipe,
    known_embeddings_detector,
    write_tiles_among_screws,
    write_video,
)
from tests.pipeline.test_run_cli import _cli


def test_tiles_under_a_ball_screw_recipe_are_wrong_part_stored_filtered_and_counted(tmp_path, tiny_registry):
    recipe = ball_screw_recipe()
    lot = write_tiles_among_screws(tmp_path / "lot")
    detector = known_embeddings_detector(recipe)  # the tiny DINOv2, embeddings set by each part's shape
    results = []
    with open_store(tmp_path / "db.sqlite") as store:
        summary = InspectionPipeline(recipe, detector, store, make_source(lot), on_result=results.append).run()
        assert summary.error is None and summary.passed == 4
        assert summary.wrong_parts == 2 and summary.exit_code == 1  # a wrong part is not a passed lot
        assert "references at start" in summary.identity_note
        wrong = {Path(r.path).name for r in results if r.status is PartStatus.STORED and r.wrong_part}
        assert wrong == {"tile-0.jpg", "tile-1.jpg"}
        assert all(r.identity_reason and "unlike the good parts" in r.identity_reason for r in results if r.wrong_part)
        stored = store.query(InspectionFilter(wrong_part=True))
        assert {Path(r.file_path).name for r in stored} == wrong
        assert all(r.verdict_label == "WRONG PART" and r.identity_score is not None for r in stored)
        right = store.query(InspectionFilter(wrong_part=False))
        assert {Path(r.file_path).name for r in right} == {"screw-0.jpg", "screw-1.jpg"}
        assert all(r.wrong_part is False and r.verdict_label == "PASS" for r in right)


def test_video_timeline_peak_is_found_at_the_frame_time_through_the_cli(tmp_path, tiny_registry):
    video = tmp_path / "line.avi"
    write_video(video)  # 40 frames at 10 fps, a bright square in frames 24..26
    recipe_path = tmp_path / "recipe.json"
    # the recipe's sampling rate (``--sample-fps`` overrides it per run)
    save_recipe(bracket_recipe(tmp_path / "ref.png", video_sample_fps=5.0), recipe_path)
    cmd, env = _cli(
        "--recipe", str(recipe_path), "--source", str(video), "--json",
        "--random-weights", "--device", "cpu", "--db", str(tmp_path / "db.sqlite"),
    )  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    parts, summary = lines[:-1], lines[-1]
    assert summary["summary"], out.stderr
    assert all(p["status"] == "stored" for p in parts), [
        (p["status"], p.get("reason")) for p in parts if p["status"] != "stored"
    ]
    # 10 fps sampled at 5 per second: frames 0, 2, 4, ... with their times in the video
    assert [p["media_time_s"] for p in parts] == pytest.approx([i * 0.2 for i in range(20)])
    peaks = summary["timeline_peaks"]
    assert len(peaks) == 1, peaks
    assert peaks[0]["time_s"] in (pytest.approx(2.4), pytest.approx(2.6))  # frames 24..26 hold the defect
    assert peaks[0]["frame_index"] in (24, 26)
    best = max(parts, key=lambda p: p["score"])
    assert peaks[0]["inspection_id"] == best["inspection_id"]
    with open_store(tmp_path / "db.sqlite") as store:
        record = store.get(peaks[0]["inspection_id"])
        assert (
            record.media_time_s == pytest.approx(peaks[0]["time_s"]) and record.frame_index == peaks[0]["frame_index"]
        )
