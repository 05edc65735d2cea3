"""The part with its anomaly heatmap: preparation (worker side) and painting (GUI side).

:func:`prepare_part` does everything that costs time on a worker thread: it downsizes the frame for
display, brings the anomaly map to the same size, normalises it to 0..255 on a scale tied to the
recipe's threshold (so a good part looks calm and a bad one hot, comparably from part to part), and
draws the outline of the region over the threshold. :class:`OverlayView` then only paints: three
pyqtgraph image items (part, heatmap through a colour lookup table with an alpha ramp, outline),
with opacity, colour map and toggles that cost nothing to change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

COLORMAPS = ("inferno", "turbo", "viridis", "magma", "plasma")
DEFAULT_COLORMAP = "inferno"
IMAGE_WELL = "#22272d"  # the background around images, in both themes (as on inspection consoles)


@dataclass(frozen=True)
class PreparedPart:
    """A scored frame ready to paint; the verdict belongs to exactly this frame."""

    image: np.ndarray  # RGB uint8 at display size
    heat: np.ndarray | None  # uint8 (H, W): the anomaly map on the display scale
    outline: np.ndarray | None  # RGBA uint8 (H, W, 4): the region over the threshold
    heat_rgba: np.ndarray | None = None  # the heat coloured with ``colormap`` (RGBA): painted as is
    colormap: str = ""
    score: float | None = None
    threshold: float | None = None
    verdict: str | None = None
    index: int = -1
    path: str | None = None
    inspection_id: str | None = None
    source_id: str = ""
    latency_ms: float | None = None
    random_weights: bool = False
    over_threshold_fraction: float = 0.0


def display_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """(width, height) no larger than ``max_side`` on the long side, aspect kept."""
    h, w = shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(w * scale)), max(1, round(h * scale))


def downsize(image: np.ndarray, max_side: int) -> np.ndarray:
    w, h = display_size(image.shape, max_side)
    if (h, w) == image.shape[:2]:
        return np.ascontiguousarray(image)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def heat_levels(
    anomaly_map: np.ndarray, threshold: float | None, band: tuple[float, float] | None = None
) -> tuple[float, float]:
    """The map values drawn as the coolest and hottest colours.

    Tied to the threshold: the bottom of the scale is well below it (a good surface stays clear),
    the threshold sits at two thirds of the scale, and values above it take the hot colours. The
    span is the uncertain band's lower half-width (a quarter of the threshold without a band).
    Without a positive threshold the map's own range is used.
    """
    if threshold is not None and threshold > 0 and np.isfinite(threshold):
        low_edge = band[0] if band else threshold * 0.8
        span = max(threshold - low_edge, threshold * 0.25)
        return float(threshold - 2.0 * span), float(threshold + 1.0 * span)
    lo, hi = float(np.min(anomaly_map)), float(np.max(anomaly_map))
    return lo, hi if hi > lo else lo + 1.0


def normalise_map(anomaly_map: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (anomaly_map.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def outline_rgba(mask: np.ndarray, thickness: int = 2) -> np.ndarray:
    """RGBA image with a white outline (dark rim for contrast) around the ``True`` regions of ``mask``."""
    h, w = mask.shape
    out = np.zeros((h, w, 4), dtype=np.uint8)
    if not mask.any():
        return out
    # Contours are traced on a mask of at most ~400 px (fast even for noisy maps) and scaled back up.
    scale = min(1.0, 400 / max(h, w))
    small = mask.astype(np.uint8)
    if scale < 1.0:
        small = cv2.resize(small, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if scale < 1.0:
        contours = [np.round((c + 0.5) / scale - 0.5).astype(np.int32) for c in contours]
    cv2.drawContours(out, contours, -1, (10, 10, 10, 220), thickness + 2, lineType=cv2.LINE_AA)
    cv2.drawContours(out, contours, -1, (255, 255, 255, 255), thickness, lineType=cv2.LINE_AA)
    return out


def prepare_part(
    image: np.ndarray,
    anomaly_map: np.ndarray | None,
    *,
    threshold: float | None,
    band: tuple[float, float] | None = None,
    max_side: int = 1280,
    colormap: str = DEFAULT_COLORMAP,
    **meta,
) -> PreparedPart:
    """Downsize, normalise and colour the heatmap, draw the over-threshold outline (on a worker thread)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    shown = downsize(image[:, :, :3], max_side)
    heat = outline = heat_rgba = None
    fraction = 0.0
    if anomaly_map is not None:
        h, w = shown.shape[:2]
        amap = anomaly_map.astype(np.float32, copy=False)
        if amap.shape != (h, w):
            amap = cv2.resize(amap, (w, h), interpolation=cv2.INTER_LINEAR)
        lo, hi = heat_levels(amap, threshold, band)
        heat = normalise_map(amap, lo, hi)
        heat_rgba = colour_lut(colormap)[heat]
        if threshold is not None:
            mask = amap >= threshold
            fraction = float(mask.mean())
            outline = outline_rgba(mask, thickness=max(2, round(max(h, w) / 450)))
    return PreparedPart(
        image=shown,
        heat=heat,
        outline=outline,
        heat_rgba=heat_rgba,
        colormap=colormap,
        threshold=threshold,
        over_threshold_fraction=fraction,
        **meta,
    )


@functools.cache
def colour_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """256 x 4 lookup table: the colour map, clear for low values, opaque from half the scale up."""
    cmap = pg.colormap.get(name if name in COLORMAPS else DEFAULT_COLORMAP)
    lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=True).astype(np.uint8).copy()
    ramp = np.clip((np.arange(256) / 255.0 - 0.1) / 0.4, 0.0, 1.0)
    lut[:, 3] = np.round(ramp * 255).astype(np.uint8)
    lut.setflags(write=False)  # shared between threads (cached)
    return lut


def compose(
    part: PreparedPart, *, opacity: float = 0.6, colormap: str = DEFAULT_COLORMAP, outline: bool = True
) -> np.ndarray:
    """The overlay as one RGB array (what the view paints), for exports and tests."""
    out = part.image.astype(np.float32)
    if part.heat is not None:
        lut = colour_lut(colormap)[part.heat].astype(np.float32)
        alpha = lut[:, :, 3:4] / 255.0 * opacity
        out = out * (1 - alpha) + lut[:, :, :3] * alpha
    if outline and part.outline is not None:
        alpha = part.outline[:, :, 3:4].astype(np.float32) / 255.0
        out = out * (1 - alpha) + part.outline[:, :, :3] * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


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
        self.heat.setOpacity(0.6)
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
