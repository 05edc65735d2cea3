"""Recipes and inputs whose outcome is known, shared by the pipeline, report and window tests.

- Magnetic tiles under a ball-screw recipe (real photos from ``../shared/datasets``): the two tiles are
  WRONG PART, the two screws pass; :class:`KnownEmbeddings` sets the tiny DINOv2's image embeddings so
  the identity check's case is known.
- A video of one texture with a bright square in frames 24..26 (it runs under ``tests.helpers.bracket_recipe``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from inspector.core.recipe import Recipe
from tests.conftest import shared_dataset
from tests.helpers import texture, tiny_dino


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


def ball_screw_recipe() -> Recipe:
    """A ball-screw recipe on three good screws, whose threshold passes every part: only identity flags."""
    screws = shared_dataset("bsdata") / "ball_screw"
    return Recipe(
        name="ball screw",
        object_name="ball screw",
        detector="anomalydino",
        model="tiny-dino",
        references=tuple(str(p) for p in sorted((screws / "train" / "good").glob("*.jpg"))[:3]),
        threshold=10.0,  # every part passes the anomaly check: only the identity check can flag them
        detector_params={"resolution": 56},
    )


def write_tiles_among_screws(lot: Path) -> Path:
    """Two good ball screws (``screw-0.jpg``, ``screw-1.jpg``) and two magnetic tiles (``tile-0.jpg``,
    ``tile-1.jpg``) in the new folder ``lot``."""
    screws = shared_dataset("bsdata") / "ball_screw"
    tiles = shared_dataset("magnetic_tile") / "magnetic_tile"
    lot.mkdir()
    for i, path in enumerate(sorted((screws / "test" / "good").glob("*.jpg"))[:2]):
        (lot / f"screw-{i}.jpg").write_bytes(path.read_bytes())
    for i, path in enumerate(sorted((tiles / "test").glob("*/*.jpg"))[:2]):
        (lot / f"tile-{i}.jpg").write_bytes(path.read_bytes())
    return lot


def known_embeddings_detector(recipe: Recipe) -> KnownEmbeddings:
    """The tiny DINOv2 with :class:`KnownEmbeddings`, fitted on the recipe's references."""
    from inspector.pipeline import fit_for_recipe

    detector = KnownEmbeddings(tiny_dino(recipe))
    fit_for_recipe(detector, recipe)
    return detector


def write_video(path: Path, fps: float = 10.0, n: int = 40, defect_frames=(24, 25, 26)) -> np.ndarray:
    """An MJPG video of ``n`` frames of one texture, a bright square (the defect) in ``defect_frames``."""
    import cv2

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
