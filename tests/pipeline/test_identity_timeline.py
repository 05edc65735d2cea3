"""The wrong part on the line and a video's score timeline, through the real pipeline and store."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.core.recipe import Recipe, save_recipe
from inspector.detectors.factory import create_detector
from inspector.pipeline import InspectionPipeline, PartStatus, fit_for_recipe
from inspector.sources import make_source
from inspector.store import InspectionFilter, open_store
from tests.conftest import shared_dataset
from tests.helpers import texture, write_reference
from tests.pipeline.test_run_cli import _cli


class KnownEmbeddings:
    """The tiny DINOv2 detector, with image embeddings set so the case is known: a part's shape.

    Ball-screw photos are wide (1130x460), magnetic-tile photos tall: the embedding ``unit(w/h, 1)``
    puts every ball screw at one point and every tile far from it. Scores and maps are the detector's.
    """

    def __init__(self, detector):
        self._detector = detector
        self.info = detector.info
        self.needs_references = detector.needs_references

    @staticmethod
    def _embed(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        v = np.array([w / h, 1.0])
        return v / np.linalg.norm(v)

    def fit(self, references):
        self._detector.fit(references)

    def image_embeddings(self, images):
        return np.stack([self._embed(i) for i in images])

    def predict(self, images):
        return [
            dataclasses.replace(p, embedding=self._embed(i))
            for p, i in zip(self._detector.predict(images), images, strict=True)
        ]


def _tiny_dino(recipe):
    return create_detector(
        "anomalydino",
        model="tiny-dino",
        device="cpu",
        dtype="float32",
        random_weights=True,
        params=recipe.detector_params,
    )


def test_tiles_under_a_ball_screw_recipe_are_wrong_part_stored_filtered_and_counted(tmp_path, tiny_registry):
    screws = shared_dataset("bsdata") / "ball_screw"
    tiles = shared_dataset("magnetic_tile") / "magnetic_tile"
    references = sorted((screws / "train" / "good").glob("*.jpg"))[:3]
    recipe = Recipe(
        name="ball screw",
        object_name="ball screw",
        detector="anomalydino",
        model="tiny-dino",
        references=tuple(str(p) for p in references),
        threshold=10.0,  # every part passes the anomaly check: only identity can flag them
        detector_params={"resolution": 56},
    )
    lot = tmp_path / "lot"
    lot.mkdir()
    for i, path in enumerate(sorted((screws / "test" / "good").glob("*.jpg"))[:2]):
        (lot / f"screw-{i}.jpg").write_bytes(path.read_bytes())
    for i, path in enumerate(sorted((tiles / "test").glob("*/*.jpg"))[:2]):
        (lot / f"tile-{i}.jpg").write_bytes(path.read_bytes())
    detector = KnownEmbeddings(_tiny_dino(recipe))
    fit_for_recipe(detector, recipe)
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


def _write_video(path: Path, fps: float = 10.0, n: int = 40, defect_frames=(24, 25, 26)) -> np.ndarray:
    base = texture(80, 96)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (96, 80))
    assert writer.isOpened()
    for i in range(n):
        frame = base.copy()
        frame[0, 0] = (7 * i) % 256  # every frame its own content (else a frame is "already inspected")
        if i in defect_frames:
            frame[30:50, 40:60] = 255  # a bright square: the synthetic defect
        writer.write(frame[:, :, ::-1].copy())
    writer.release()
    return base


def test_video_timeline_peak_is_found_at_the_frame_time_through_the_cli(tmp_path, tiny_registry):
    video = tmp_path / "line.avi"
    _write_video(video)
    recipe_path = tmp_path / "recipe.json"
    save_recipe(
        Recipe(
            name="bracket",
            object_name="bracket",
            detector="anomalydino",
            model="tiny-dino",
            references=(str(write_reference(tmp_path / "ref.png")),),
            threshold=0.05,
            detector_params={"resolution": 56},
            video_sample_fps=5.0,  # the recipe's sampling rate (``--sample-fps`` overrides it per run)
        ),
        recipe_path,
    )
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
