"""The one heatmap rendering: scale tied to the threshold, cv2 colour maps, layers blended as painted."""

from __future__ import annotations

import cv2
import numpy as np

from inspector.core.overlay import COLORMAPS, colour_lut, heat_levels, prepare_part, render_overlay


def test_the_scale_follows_the_threshold_not_the_map():
    calm = np.linspace(0.1, 0.2, 100, dtype=np.float32).reshape(10, 10)
    assert heat_levels(calm, 0.5) == heat_levels(calm * 1.5, 0.5) == (0.25, 0.625)
    assert np.allclose(heat_levels(calm, 0.5, band=(0.3, 0.7)), (0.1, 0.7))  # the band's lower half-width sets the span
    assert heat_levels(calm, None) == (float(calm.min()), float(calm.max()))  # no threshold: own range
    part = prepare_part(np.zeros((10, 10, 3), np.uint8), calm, threshold=0.5)
    assert part.heat.max() == 0 and not part.outline[:, :, 3].any()


def test_colour_maps_are_opencvs_with_an_alpha_ramp():
    for name in COLORMAPS:
        lut = colour_lut(name)
        assert lut.shape == (256, 4) and lut[0, 3] == 0 and lut[255, 3] == 255
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    inferno = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB).reshape(256, 3)
    assert np.array_equal(colour_lut("inferno")[:, :3], inferno)
    assert np.array_equal(colour_lut("no such map"), colour_lut("inferno"))


def test_render_overlay_without_an_image_draws_over_black():
    amap = np.zeros((40, 60), np.float32)
    amap[10:20, 10:30] = 1.0
    rgb = render_overlay(None, amap, threshold=0.5, max_side=30)
    assert rgb.shape == (20, 30, 3) and rgb[0, 0].tolist() == [0, 0, 0] and rgb[7, 10].any()
