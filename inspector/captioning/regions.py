"""Where to look: the flagged region of a part, from its anomaly map (pure numpy / OpenCV, no torch).

The captioner and the defect-type classifier are asked about the region around the anomaly-map
peak, not the whole part: a small defect is a few pixels of a 224 px model input when the whole
image is shown. What is computed:

1. **Level**: the map's background is its median, the peak its maximum. Pixels above
   ``background + relative_level * (peak - background)`` are anomalous (or above the recipe's map
   threshold, when one is given and lies between background and peak). A map whose peak hardly
   rises over its background (``flat_tolerance``) has no region: the whole image is used.
2. **Regions**: connected components (8-connectivity) of the anomalous pixels, ranked by their
   peak value. The main region is the one holding the global maximum; other regions almost as
   strong (``merge_ratio`` of the main peak's height over the background) and close enough for one
   crop to show them together are kept with it.
3. **Crop**: a square around the kept regions' bounding box, ``context`` times its longer side (so
   the defect is seen with some of the surface around it), at least ``min_side_px`` pixels and
   ``min_side_fraction`` of the image's shorter side, at most the shorter side; shifted (never
   shrunk) to stay inside the image.

The analysis runs on the map downsampled to at most ``ANALYSIS_SIDE`` pixels (anomaly maps are
smooth: they are upsampled from a patch grid and blurred), and boxes are scaled back to the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inspector.core.images import downscale_to_max_side

ANALYSIS_SIDE = 256


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel coordinates; ``x1`` and ``y1`` are exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        """``(x, y)`` of the box centre."""
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0

    def contains(self, other: Box) -> bool:
        return self.x0 <= other.x0 and self.y0 <= other.y0 and self.x1 >= other.x1 and self.y1 >= other.y1

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1


@dataclass(frozen=True)
class Region:
    """One connected anomalous area of the map, in image pixel coordinates.

    Attributes:
        box: Bounding box.
        peak: ``(x, y)`` of the region's highest map value.
        peak_value: That value (of the map as analysed: at most ``ANALYSIS_SIDE`` px).
        area: Pixels of the region (at image resolution, approximately).
    """

    box: Box
    peak: tuple[int, int]
    peak_value: float
    area: int


@dataclass(frozen=True)
class RegionOptions:
    """How the flagged region and its crop are found (see the module docstring)."""

    relative_level: float = 0.5
    context: float = 2.0
    min_side_px: int = 64
    min_side_fraction: float = 0.2
    merge_ratio: float = 0.7
    max_union_fraction: float = 0.6
    max_regions: int = 3
    flat_tolerance: float = 0.01
    min_area_fraction: float = 0.0005

    def __post_init__(self) -> None:
        if not 0.0 < self.relative_level < 1.0:
            raise ValueError(f"relative_level must lie in (0, 1), got {self.relative_level}")
        if self.context < 1.0:
            raise ValueError(f"context must be at least 1 (the crop holds the region), got {self.context}")
        if self.max_regions < 1:
            raise ValueError(f"max_regions must be at least 1, got {self.max_regions}")


@dataclass(frozen=True)
class RegionCrop:
    """The part of the image the captioner is asked about.

    Attributes:
        crop: RGB uint8 pixels of ``box`` (a copy).
        box: The crop in image coordinates (square unless the map was flat).
        regions: The anomalous regions the crop was built around, strongest first (empty if flat).
        flat: True when the map had no distinct peak and the crop is the whole image.
        level: The map value above which pixels counted as anomalous (NaN when flat).
    """

    crop: np.ndarray
    box: Box
    regions: tuple[Region, ...] = field(default_factory=tuple)
    flat: bool = False
    level: float = float("nan")


def _analysis_map(anomaly_map: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The map as float32, NaN/inf replaced, at most ``ANALYSIS_SIDE`` px; and the scale factors."""
    amap = np.asarray(anomaly_map, dtype=np.float32)
    if amap.ndim == 3 and amap.shape[2] == 1:
        amap = amap[:, :, 0]
    if amap.ndim != 2 or amap.size == 0:
        raise ValueError(f"expected a 2-d anomaly map, got shape {amap.shape}")
    finite = np.isfinite(amap)
    if not finite.all():
        low = float(amap[finite].min()) if finite.any() else 0.0
        amap = np.where(finite, amap, low).astype(np.float32)
    h, w = amap.shape
    amap = downscale_to_max_side(amap, ANALYSIS_SIDE)
    return amap, w / amap.shape[1], h / amap.shape[0]


def anomaly_level(
    anomaly_map: np.ndarray, options: RegionOptions = RegionOptions(), map_threshold: float | None = None
) -> tuple[float, float, float] | None:
    """``(background, peak, level)`` of a map, or None when it is flat (no distinct peak)."""
    amap = np.asarray(anomaly_map, dtype=np.float32)
    finite = amap[np.isfinite(amap)]
    if finite.size == 0:
        return None
    background, peak = float(np.median(finite)), float(finite.max())
    span = peak - background
    if span <= 1e-7 or span <= options.flat_tolerance * max(abs(peak), abs(background), 1e-12):
        return None
    level = background + options.relative_level * span
    if map_threshold is not None and background < map_threshold < peak:
        level = float(map_threshold)
    return background, peak, level


def find_regions(
    anomaly_map: np.ndarray,
    image_shape: tuple[int, ...] | None = None,
    options: RegionOptions = RegionOptions(),
    map_threshold: float | None = None,
) -> list[Region]:
    """The anomalous regions of a map, strongest peak first, in the coordinates of ``image_shape``.

    Args:
        anomaly_map: ``(h, w)`` scores, higher is more anomalous (any resolution).
        image_shape: Shape of the image the map belongs to (``(H, W, ...)``); the map's own shape
            when None.
        options: Levels and sizes.
        map_threshold: The recipe's threshold in map units, when it has one.

    Returns:
        At most ``options.max_regions`` regions (the main one first); empty for a flat map.
    """
    import cv2

    amap, sx, sy = _analysis_map(anomaly_map)
    if image_shape is not None:
        h_img, w_img = int(image_shape[0]), int(image_shape[1])
        sx, sy = w_img / amap.shape[1], h_img / amap.shape[0]
    else:
        h_img, w_img = round(amap.shape[0] * sy), round(amap.shape[1] * sx)
    levels = anomaly_level(amap, options, map_threshold)
    if levels is None:
        return []
    _background, _peak, level = levels
    mask = (amap >= level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return []
    peaks = np.full(count, -np.inf, dtype=np.float64)
    # cv2's stubs type the label image as any MatLike; connectedComponentsWithStats returns int32 labels
    np.maximum.at(peaks, labels.ravel(), amap.ravel().astype(np.float64))  # type: ignore[arg-type]
    peaks[0] = -np.inf  # label 0 is the background
    min_area = options.min_area_fraction * amap.size
    order = sorted(range(1, count), key=lambda i: (-peaks[i], -stats[i, cv2.CC_STAT_AREA]))
    regions: list[Region] = []
    for rank, label in enumerate(order):
        area = int(stats[label, cv2.CC_STAT_AREA])
        if rank > 0 and area < min_area:
            continue
        x, y = int(stats[label, cv2.CC_STAT_LEFT]), int(stats[label, cv2.CC_STAT_TOP])
        w, h = int(stats[label, cv2.CC_STAT_WIDTH]), int(stats[label, cv2.CC_STAT_HEIGHT])
        box = Box(
            max(0, int(np.floor(x * sx))),
            max(0, int(np.floor(y * sy))),
            min(w_img, int(np.ceil((x + w) * sx))),
            min(h_img, int(np.ceil((y + h) * sy))),
        )
        inside = np.where(labels == label, amap, -np.inf)
        py, px = np.unravel_index(int(np.argmax(inside)), inside.shape)
        peak_xy = (min(w_img - 1, int((px + 0.5) * sx)), min(h_img - 1, int((py + 0.5) * sy)))
        regions.append(Region(box=box, peak=peak_xy, peak_value=float(peaks[label]), area=int(round(area * sx * sy))))
        if len(regions) >= options.max_regions:
            break
    return regions


def square_crop_box(target: Box, image_shape: tuple[int, ...], options: RegionOptions = RegionOptions()) -> Box:
    """A square box around ``target`` with context, clamped into the image by shifting it."""
    h, w = int(image_shape[0]), int(image_shape[1])
    short = min(h, w)
    side = max(target.width, target.height) * options.context
    side = max(side, options.min_side_px, options.min_side_fraction * short)
    side = int(round(min(side, short)))
    side = max(1, side)
    cx, cy = target.center
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x0 = min(max(0, x0), w - side)
    y0 = min(max(0, y0), h - side)
    return Box(x0, y0, x0 + side, y0 + side)


def select_regions(
    regions: list[Region],
    image_shape: tuple[int, ...],
    options: RegionOptions = RegionOptions(),
    background: float = 0.0,
) -> list[Region]:
    """The main region plus the others strong and close enough to be shown in one crop with it."""
    if not regions:
        return []
    main = regions[0]
    height = main.peak_value - background
    short = min(int(image_shape[0]), int(image_shape[1]))
    kept = [main]
    union = main.box
    for other in regions[1:]:
        if other.peak_value - background < options.merge_ratio * height:
            continue
        joined = union.union(other.box)
        if max(joined.width, joined.height) > options.max_union_fraction * short:
            continue
        kept.append(other)
        union = joined
    return kept


def region_crop(
    image: np.ndarray,
    anomaly_map: np.ndarray | None,
    options: RegionOptions = RegionOptions(),
    map_threshold: float | None = None,
) -> RegionCrop:
    """Crop the image around its anomaly-map peak region(s).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        anomaly_map: The detector's map for the image (any resolution; None: whole image).
        options: Levels and crop sizes.
        map_threshold: The recipe's threshold in map units, when it has one.

    Returns:
        The crop; the whole image (``flat=True``) when the map has no distinct peak.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected an image (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    whole = Box(0, 0, w, h)
    if anomaly_map is None:
        return RegionCrop(crop=image.copy(), box=whole, flat=True)
    amap, _, _ = _analysis_map(anomaly_map)
    levels = anomaly_level(amap, options, map_threshold)
    if levels is None:
        return RegionCrop(crop=image.copy(), box=whole, flat=True)
    regions = find_regions(anomaly_map, image.shape, options, map_threshold)
    if not regions:
        return RegionCrop(crop=image.copy(), box=whole, flat=True)
    kept = select_regions(regions, image.shape, options, background=levels[0])
    target = kept[0].box
    for region in kept[1:]:
        target = target.union(region.box)
    box = square_crop_box(target, image.shape, options)
    crop = image[box.y0 : box.y1, box.x0 : box.x1].copy()
    return RegionCrop(crop=crop, box=box, regions=tuple(kept), flat=False, level=float(levels[2]))


def draw_box(
    image: np.ndarray, box: Box, color: tuple[int, int, int] = (255, 0, 0), thickness: int | None = None
) -> np.ndarray:
    """The whole part with the crop outlined (a copy): the context view for screens and reports."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    t = thickness or max(1, round(min(out.shape[:2]) / 200))
    cv2.rectangle(out, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), color, t)
    return out
