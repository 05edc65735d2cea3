"""Tiled scoring: tile layout, stitching (max and mean) of known maps, and the wrapper end to end."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.types import AnomalyPrediction, DetectorInfo
from inspector.detectors.tiling import TiledDetector, TilingOptions, map_score, stitch, tile_boxes
from inspector.errors import InspectorError


def test_grid_boxes_cover_the_image_with_the_overlap():
    boxes = tile_boxes(3000, 4096, TilingOptions(grid=(4, 3), overlap=0.125))
    assert len(boxes) == 12
    cover = np.zeros((3000, 4096), dtype=np.int32)
    for y0, x0, y1, x1 in boxes:
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    xs = sorted({b[1] for b in boxes})
    width = boxes[0][3] - boxes[0][1]
    assert xs[0] == 0 and max(b[3] for b in boxes) == 4096
    assert all(width - (b - a) >= 0.125 * width - 1 for a, b in zip(xs, xs[1:], strict=False))


def test_tile_size_boxes():
    boxes = tile_boxes(500, 1000, TilingOptions(tile_size=448, overlap=0.25))
    assert {(y1 - y0, x1 - x0) for y0, x0, y1, x1 in boxes} == {(448, 448)}
    assert max(b[3] for b in boxes) == 1000 and max(b[2] for b in boxes) == 500
    assert tile_boxes(100, 100, TilingOptions(tile_size=448)) == [(0, 0, 100, 100)]


def test_stitch_max_and_mean_of_a_known_map():
    boxes = [(0, 0, 2, 3), (0, 2, 2, 5)]  # 2x5 image, overlap in column 2
    left = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    right = np.array([[10, 20, 30], [0, 1, 2]], dtype=np.float32)
    maxed = stitch([left, right], boxes, (2, 5), "max")
    np.testing.assert_array_equal(maxed, [[1, 2, 10, 20, 30], [4, 5, 6, 1, 2]])
    mean = stitch([left, right], boxes, (2, 5), "mean")
    np.testing.assert_allclose(mean, [[1, 2, 6.5, 20, 30], [4, 5, 3, 1, 2]])
    with pytest.raises(ValueError, match="cover"):
        stitch([left], boxes[:1], (2, 5), "max")


def test_map_score_is_the_top_fraction_mean():
    amap = np.arange(1000, dtype=np.float32).reshape(10, 100)
    assert map_score(amap, 0.01) == pytest.approx(np.mean(np.arange(990, 1000)))
    assert map_score(amap, 0.0) == 999.0


def test_options_are_checked():
    with pytest.raises(InspectorError, match="grid"):
        TilingOptions()
    with pytest.raises(InspectorError, match="reduce"):
        TilingOptions(grid=(2, 2), reduce="median")
    with pytest.raises(InspectorError, match="Unknown tiling"):
        TilingOptions.from_dict({"grid": [2, 2], "tiles": 3})
    assert TilingOptions.from_dict({"grid": [4, 3]}).grid == (4, 3)


class _Brightness:
    """A real (if simple) detector: the map is the tile's brightness; records the batches it gets."""

    needs_references = True

    def __init__(self):
        self.info = DetectorInfo("brightness", "none", "cpu", "float32")
        self.batches: list[int] = []
        self.fitted = 0

    def fit(self, references):
        self.fitted = len(references)

    def predict(self, images):
        self.batches.append(len(images))
        return [
            AnomalyPrediction(score=float(i.mean()), anomaly_map=i.mean(axis=2).astype(np.float32) / 255.0)
            for i in images
        ]

    def encoder_forward(self, images):
        pass


def test_tiled_detector_stitches_batches_and_scores_from_the_map():
    inner = _Brightness()
    tiled = TiledDetector(inner, TilingOptions(grid=(4, 3), batch_size=5))
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[200:204, 300:304] = 255  # a 4x4 defect
    tiled.fit([image])
    assert inner.fitted == 12
    (pred,) = tiled.predict([image])
    assert inner.batches == [5, 5, 2]
    assert pred.anomaly_map.shape == (300, 400)
    np.testing.assert_allclose(pred.anomaly_map, image.mean(axis=2) / 255.0)
    assert pred.score == pytest.approx(map_score(pred.anomaly_map, 0.01))
