"""The one heatmap rendering: a part with its anomaly map, coloured on a scale tied to the threshold.

The live view, the review detail, the PDF/HTML report and the dataset export all colour a map here,
so the same map looks the same everywhere. :func:`prepare_part` (worker side) downsizes the frame,
brings the map to the same size, normalises it on the scale of :func:`heat_levels` (bottom well
below the threshold, the threshold at two thirds: a good part stays calm, a bad one hot, comparably
from part to part), colours it through :func:`colour_lut` (a cv2 colour map with an alpha ramp) and
draws the outline of the region over the threshold. :func:`compose` blends the layers into one RGB
image exactly as the window paints them (:class:`inspector.ui.heatmap_overlay.OverlayView`).

Qt-free (numpy and OpenCV only), so reports and exports render without a GUI.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from inspector.core.images import downscale_to_max_side

_CV2_MAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
}
COLORMAPS = tuple(_CV2_MAPS)
DEFAULT_COLORMAP = "inferno"
DEFAULT_OPACITY = 0.6  # the heat layer's opacity in the window, and in reports and exports


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
    wrong_part: bool = False  # the part-identity check saw another part
    identity_reason: str | None = None

    @property
    def shown_verdict(self) -> str | None:
        """The badge key: ``wrong_part`` before the anomaly verdict (its score says nothing)."""
        return "wrong_part" if self.wrong_part else self.verdict


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


@functools.cache
def colour_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """256 x 4 RGBA lookup table: the colour map, clear for low values, opaque from half the scale up."""
    code = _CV2_MAPS.get(name, _CV2_MAPS[DEFAULT_COLORMAP])
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), code).reshape(256, 3)
    lut = np.empty((256, 4), dtype=np.uint8)
    lut[:, :3] = bgr[:, ::-1]
    ramp = np.clip((np.arange(256) / 255.0 - 0.1) / 0.4, 0.0, 1.0)
    lut[:, 3] = np.round(ramp * 255).astype(np.uint8)
    lut.setflags(write=False)  # shared between threads (cached)
    return lut


def outline_rgba(mask: np.ndarray, thickness: int = 2) -> np.ndarray:
    """RGBA image with a white outline (dark rim for contrast) around the ``True`` regions of ``mask``."""
    h, w = mask.shape
    out = np.zeros((h, w, 4), dtype=np.uint8)
    if not mask.any():
        return out
    # Contours are traced on a mask of at most ~400 px (fast even for noisy maps) and scaled back up.
    scale = min(1.0, 400 / max(h, w))
    small: np.ndarray = mask.astype(np.uint8)
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
    shown = downscale_to_max_side(image[:, :, :3], max_side)
    heat = outline = heat_rgba = None
    fraction = 0.0
    if anomaly_map is not None:
        h, w = shown.shape[:2]
        amap: np.ndarray = anomaly_map.astype(np.float32, copy=False)
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


def compose(
    part: PreparedPart, *, opacity: float = DEFAULT_OPACITY, colormap: str = DEFAULT_COLORMAP, outline: bool = True
) -> np.ndarray:
    """The overlay as one RGB array, blended as the window paints its layers (reports, exports, tests)."""
    out = part.image.astype(np.float32)
    if part.heat is not None:
        lut = colour_lut(colormap)[part.heat].astype(np.float32)
        alpha = lut[:, :, 3:4] / 255.0 * opacity
        out = out * (1 - alpha) + lut[:, :, :3] * alpha
    if outline and part.outline is not None:
        alpha = part.outline[:, :, 3:4].astype(np.float32) / 255.0
        out = out * (1 - alpha) + part.outline[:, :, :3] * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def render_overlay(
    image: np.ndarray | None,
    anomaly_map: np.ndarray,
    *,
    threshold: float | None,
    band: tuple[float, float] | None = None,
    max_side: int = 1280,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
) -> np.ndarray:
    """RGB overlay of ``anomaly_map`` over ``image`` (over black when there is no image), as the window shows it."""
    if image is None:
        h, w = anomaly_map.shape[:2]
        image = np.zeros((h, w, 3), dtype=np.uint8)
    part = prepare_part(image, anomaly_map, threshold=threshold, band=band, max_side=max_side, colormap=colormap)
    return compose(part, opacity=opacity, colormap=colormap)
