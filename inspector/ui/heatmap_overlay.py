"""The part with its anomaly heatmap, painted: a thin Qt view over :mod:`inspector.core.overlay`.

Everything that costs time (downsizing, the threshold-tied scale, colouring, the outline) is done by
:func:`inspector.core.overlay.prepare_part` on a worker thread, the same rendering the report and the
dataset export use. :class:`OverlayView` only paints: three pyqtgraph image items (part, heatmap
RGBA, outline), with opacity, colour map and toggles that cost nothing to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QComboBox, QSlider

from inspector.core.images import downscale_to_max_side as downsize
from inspector.core.overlay import (
    COLORMAPS,
    DEFAULT_COLORMAP,
    DEFAULT_OPACITY,
    PreparedPart,
    colour_lut,
    compose,
    prepare_part,
)

__all__ = [
    "OverlayControls",
    "overlay_controls",
    "COLORMAPS",
    "IMAGE_WELL",
    "downsize",
    "OverlayView",
    "PreparedPart",
    "colour_lut",
    "compose",
    "prepare_part",
]

IMAGE_WELL = "#22272d"  # the background around images, in both themes (as on inspection consoles)


class OverlayView(pg.GraphicsLayoutWidget):
    """Paints a :class:`PreparedPart` (or a plain frame): part, heatmap and outline layers.

    Every layer arrives as a ready RGB/RGBA ``uint8`` array and is set with ``levels=None``, which
    pyqtgraph wraps in a QImage without any per-pixel work on the GUI thread; opacity is the item's.
    """

    def __init__(self, parent=None, *, placeholder: str = "No part yet", interactive: bool = True) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 160)
        self.setBackground(IMAGE_WELL)
        self.setAntialiasing(False)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=interactive)
        self.view.setMenuEnabled(False)
        self.view.setDefaultPadding(0.0)
        self.base = pg.ImageItem(axisOrder="row-major")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.outline = pg.ImageItem(axisOrder="row-major")
        self.heat.setZValue(1)
        self.outline.setZValue(2)
        for item in (self.base, self.heat, self.outline):
            self.view.addItem(item)
        self._label = pg.TextItem(placeholder, anchor=(0.5, 0.5), color="#8a96a3")
        font = QFont()
        font.setPointSize(14)
        self._label.setFont(font)
        self.view.addItem(self._label)
        self._label.setPos(0.5, 0.5)
        self.view.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self._shape: tuple[int, int] | None = None
        self._colormap = DEFAULT_COLORMAP
        self.heat.setOpacity(DEFAULT_OPACITY)
        self.part: PreparedPart | None = None
        self.setCursor(Qt.CursorShape.CrossCursor if interactive else Qt.CursorShape.ArrowCursor)

    # -- painting ----------------------------------------------------------------------------------
    def set_part(self, part: PreparedPart | None) -> None:
        self.part = part
        if part is None:
            self.clear_view()
            return
        self._set_base(part.image)
        self._set_heat(part)
        if part.outline is not None:
            self.outline.setImage(part.outline, autoLevels=False, levels=None)
        else:
            self.outline.clear()

    def _set_heat(self, part: PreparedPart) -> None:
        if part.heat is None:
            self.heat.clear()
            return
        rgba = part.heat_rgba if part.heat_rgba is not None and part.colormap == self._colormap else None
        if rgba is None:  # another colour map was chosen since it was prepared: colour it here (once)
            rgba = colour_lut(self._colormap)[part.heat]
        self.heat.setImage(rgba, autoLevels=False, levels=None)

    def set_frame(self, image: np.ndarray) -> None:
        """A plain frame (the live camera preview): no heatmap."""
        self._set_base(image)

    def _set_base(self, image: np.ndarray) -> None:
        self._label.setVisible(False)
        self.base.setImage(image, autoLevels=False, levels=None)
        shape = image.shape[:2]
        if shape != self._shape:
            self._shape = shape
            self.view.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0)

    def clear_view(self, message: str | None = None) -> None:
        for item in (self.base, self.heat, self.outline):
            item.clear()
        self._shape = None
        if message is not None:
            self._label.setText(message)
        self._label.setVisible(True)
        self.view.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    # -- controls ----------------------------------------------------------------------------------
    def set_opacity(self, opacity: float) -> None:
        self.heat.setOpacity(max(0.0, min(1.0, opacity)))

    def set_colormap(self, name: str) -> None:
        self._colormap = name if name in COLORMAPS else DEFAULT_COLORMAP
        if self.part is not None:
            self._set_heat(self.part)

    def set_heat_visible(self, visible: bool) -> None:
        self.heat.setVisible(visible)

    def set_outline_visible(self, visible: bool) -> None:
        self.outline.setVisible(visible)

    @property
    def colormap(self) -> str:
        return self._colormap

    def reset_zoom(self) -> None:
        if self._shape is not None:
            self.view.setRange(xRange=(0, self._shape[1]), yRange=(0, self._shape[0]), padding=0)


@dataclass(frozen=True)
class OverlayControls:
    """The heatmap's controls under an :class:`OverlayView` (live screen and review detail alike)."""

    show_heat: QCheckBox
    show_outline: QCheckBox
    opacity: QSlider  # percent
    colormap: QComboBox | None


def overlay_controls(
    view: OverlayView, *, outline_text: str = "Outline", slider_width: int = 120, colormap: bool = False
) -> OverlayControls:
    """Heatmap and outline toggles, an opacity slider (the rendering's default opacity) and, with
    ``colormap``, the colour-map choice, each wired to ``view``."""
    show_heat = QCheckBox("Heatmap (H)")
    show_heat.setChecked(True)
    show_outline = QCheckBox(outline_text)
    show_outline.setChecked(True)
    opacity = QSlider(Qt.Orientation.Horizontal)
    opacity.setRange(0, 100)
    opacity.setValue(round(DEFAULT_OPACITY * 100))
    opacity.setFixedWidth(slider_width)
    show_heat.toggled.connect(view.set_heat_visible)
    show_outline.toggled.connect(view.set_outline_visible)
    opacity.valueChanged.connect(lambda v: view.set_opacity(v / 100.0))
    choice = None
    if colormap:
        choice = QComboBox()
        choice.addItems(COLORMAPS)
        choice.setCurrentText(view.colormap)
        choice.currentTextChanged.connect(view.set_colormap)
    return OverlayControls(show_heat, show_outline, opacity, choice)
