"""The window and the report colour the same heatmap with the same pixels (one rendering, core.overlay)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from inspector.core.overlay import DEFAULT_OPACITY, prepare_part
from inspector.reports.images import THUMB_SIDE, overlay_rgb
from inspector.ui.heatmap_overlay import OverlayView


def painted(view: OverlayView) -> np.ndarray:
    """What the view's layers paint at 1:1 (each pyqtgraph item drawn with its own opacity)."""
    h, w = view.part.image.shape[:2]
    target = QImage(w, h, QImage.Format.Format_RGB888)
    target.fill(0)
    painter = QPainter(target)
    for item in (view.base, view.heat, view.outline):
        if item.image is None or not item.isVisible():
            continue
        painter.save()
        painter.setOpacity(item.opacity())
        item.paint(painter, None, None)
        painter.restore()
    painter.end()
    assert QRectF(target.rect()) == view.base.boundingRect()
    buf = np.frombuffer(target.constBits(), np.uint8).reshape(h, target.bytesPerLine())[:, : w * 3]
    return buf.reshape(h, w, 3).copy()


def a_part(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 200, (180, 240, 3), dtype=np.uint8)
    amap = rng.normal(0.15, 0.02, (60, 80)).astype(np.float32)  # a calm surface ...
    amap[20:35, 30:50] = 0.9  # ... with one hot defect
    return image, amap


def test_the_window_and_the_report_paint_the_same_pixels(qtbot):
    image, amap = a_part()
    threshold, band = 0.5, (0.42, 0.58)
    report = overlay_rgb(image, amap, threshold, band)
    view = OverlayView()
    qtbot.addWidget(view)
    view.set_part(prepare_part(image, amap, threshold=threshold, band=band, max_side=THUMB_SIDE))
    assert view.heat.opacity() == DEFAULT_OPACITY
    window = painted(view)
    assert window.shape == report.shape == (180, 240, 3)
    diff = np.abs(window.astype(int) - report.astype(int))
    assert diff.max() <= 3, f"window and report differ by up to {diff.max()} levels"
    assert not np.array_equal(report[80, 120], image[80, 120])  # the defect is coloured ...
    assert np.array_equal(report[5, 5], image[5, 5])  # ... a calm surface is left as it is


def test_a_calm_good_part_stays_calm_in_the_report():
    image, amap = a_part()
    calm = np.full_like(amap, 0.2) + 0.05 * np.random.default_rng(1).random(amap.shape, dtype=np.float32)
    assert np.array_equal(overlay_rgb(image, calm, threshold=0.5), image)  # no per-map stretching to red-hot
    hot = overlay_rgb(image, calm + 0.6, threshold=0.5)
    assert np.abs(hot.astype(int) - image.astype(int)).mean() > 40
