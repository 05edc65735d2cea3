"""The crop around the anomaly-map peak(s), on hand-built maps."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.captioning.regions import (
    Box,
    RegionOptions,
    anomaly_level,
    draw_box,
    find_regions,
    region_crop,
    square_crop_box,
)
from tests.captioning.conftest import blob_map, part_image


def _blob_box(amap: np.ndarray, level: float) -> Box:
    ys, xs = np.nonzero(amap >= level)
    return Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def test_single_blob_gives_square_crop_with_context():
    image = part_image(0, (200, 300))
    amap = blob_map((200, 300), [(180, 90)], sigma=6.0)
    out = region_crop(image, amap)
    assert not out.flat
    assert out.box.width == out.box.height
    assert out.crop.shape == (out.box.height, out.box.width, 3)
    np.testing.assert_array_equal(out.crop, image[out.box.y0 : out.box.y1, out.box.x0 : out.box.x1])
    blob = _blob_box(amap, out.level)
    assert out.box.contains(blob)
    # about twice the blob's size (context 2x), but at least 20% of the shorter side (40 px) and 64 px
    side = max(blob.width, blob.height)
    assert out.box.width == pytest.approx(max(2 * side, 64), abs=3)
    cx, cy = out.box.center
    assert abs(cx - 180) <= 2 and abs(cy - 90) <= 2
    (region,) = out.regions
    assert abs(region.peak[0] - 180) <= 2 and abs(region.peak[1] - 90) <= 2
    assert region.peak_value == pytest.approx(amap.max(), rel=0.05)  # of the map as analysed (<= 256 px)


def test_two_close_blobs_of_similar_strength_are_cropped_together():
    image = part_image(1, (240, 240))
    amap = blob_map((240, 240), [(100, 120), (140, 120)], sigma=5.0, heights=[1.0, 0.9])
    out = region_crop(image, amap)
    assert len(out.regions) == 2
    assert out.regions[0].peak_value > out.regions[1].peak_value
    for region in out.regions:
        assert out.box.contains(region.box)


def test_two_far_blobs_crop_the_strongest():
    image = part_image(2, (240, 320))
    amap = blob_map((240, 320), [(40, 40), (280, 200)], sigma=5.0, heights=[0.8, 1.0])
    regions = find_regions(amap, image.shape)
    assert len(regions) == 2
    assert abs(regions[0].peak[0] - 280) <= 2 and abs(regions[0].peak[1] - 200) <= 2
    out = region_crop(image, amap)
    assert len(out.regions) == 1  # the other one is too far away for one crop
    assert out.box.contains(out.regions[0].box)
    assert not out.box.contains(regions[1].box)
    # equally strong but too far apart for one crop: still only the strongest (the global maximum)
    amap = blob_map((240, 320), [(40, 40), (280, 200)], sigma=5.0, heights=[0.99, 1.0])
    out = region_crop(image, amap)
    assert len(out.regions) == 1 and out.regions[0].peak[0] > 200


def test_blob_at_the_border_shifts_the_crop_inside():
    image = part_image(3, (200, 300))
    amap = blob_map((200, 300), [(298, 1)], sigma=6.0)  # top-right corner
    out = region_crop(image, amap)
    box = out.box
    assert box.width == box.height
    assert box.x1 == 300 and box.y0 == 0  # touches the corner, never leaves the image
    assert box.x0 >= 0 and box.y1 <= 200
    assert box.contains(out.regions[0].box)


def test_flat_map_uses_the_whole_image():
    image = part_image(4, (100, 150))
    for amap in (
        np.full((100, 150), 0.3, np.float32),
        0.5 + 1e-4 * np.random.default_rng(0).random((100, 150)).astype(np.float32),
        np.zeros((100, 150), np.float32),
    ):
        out = region_crop(image, amap)
        assert out.flat and out.regions == ()
        assert out.box == Box(0, 0, 150, 100)
        np.testing.assert_array_equal(out.crop, image)
    assert region_crop(image, None).flat
    assert anomaly_level(np.full((5, 5), 2.0)) is None


def test_low_resolution_map_is_scaled_to_the_image():
    image = part_image(5, (400, 400))
    amap = blob_map((50, 50), [(40, 10)], sigma=2.0)  # a patch-grid-sized map
    out = region_crop(image, amap)
    cx, cy = out.box.center
    assert abs(cx - 40 * 8 - 4) <= 12 and abs(cy - 10 * 8 - 4) <= 12
    assert out.box.contains(out.regions[0].box)


def test_large_map_is_analysed_downsampled_with_same_result():
    image = part_image(6, (1024, 1024))
    amap = blob_map((1024, 1024), [(700, 300)], sigma=20.0)
    out = region_crop(image, amap)
    cx, cy = out.box.center
    assert abs(cx - 700) <= 8 and abs(cy - 300) <= 8
    assert out.box.width == out.box.height


def test_tiny_peak_gets_the_minimum_crop_and_big_region_the_shorter_side():
    image = part_image(7, (300, 500))
    amap = np.zeros((300, 500), np.float32)
    amap[150, 250] = 1.0
    out = region_crop(image, amap)
    assert out.box.width == max(64, round(0.2 * 300))
    assert out.box.contains(Box(250, 150, 251, 151))
    amap = blob_map((300, 500), [(250, 150)], sigma=80.0)
    out = region_crop(image, amap)
    assert out.box.width == out.box.height == 300  # capped at the shorter side, still square


def test_map_threshold_sets_the_level_between_background_and_peak():
    amap = blob_map((100, 100), [(50, 50)], sigma=8.0, base=0.0)
    wide = find_regions(amap, options=RegionOptions(), map_threshold=0.1)[0]
    narrow = find_regions(amap, options=RegionOptions(), map_threshold=0.9)[0]
    assert wide.box.contains(narrow.box) and wide.area > narrow.area
    # a threshold above the peak (or below the background) is ignored: the relative level applies
    default = find_regions(amap)[0]
    assert find_regions(amap, map_threshold=5.0)[0] == default


def test_non_finite_values_do_not_break_it():
    amap = blob_map((64, 64), [(20, 30)], sigma=3.0)
    amap[0, :5] = np.nan
    amap[1, :5] = -np.inf
    out = region_crop(part_image(8, (64, 64)), amap)
    assert not out.flat and abs(out.regions[0].peak[0] - 20) <= 1


def test_square_crop_box_and_options_checks():
    box = square_crop_box(
        Box(10, 10, 20, 40), (100, 100), RegionOptions(context=1.5, min_side_px=1, min_side_fraction=0.0)
    )
    assert box.width == box.height == 45 and box.contains(Box(10, 10, 20, 40))
    with pytest.raises(ValueError):
        RegionOptions(relative_level=1.5)
    with pytest.raises(ValueError):
        RegionOptions(context=0.5)
    with pytest.raises(ValueError):
        region_crop(np.zeros((0, 5, 3), np.uint8), None)


def test_draw_box_outlines_the_crop_on_a_copy():
    image = np.zeros((50, 60, 3), np.uint8)
    out = draw_box(image, Box(10, 5, 30, 25))
    assert image.sum() == 0
    assert tuple(out[5, 10]) == (255, 0, 0) and tuple(out[24, 29]) == (255, 0, 0)
    assert out[15, 20].sum() == 0
