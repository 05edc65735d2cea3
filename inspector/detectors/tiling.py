"""Tiled scoring for large images and small defects.

A detector resizes each image to its model resolution (448 px for AnomalyDINO), so a 4096 x 3000
image loses most of its detail and a defect of a few dozen pixels can vanish. :class:`TiledDetector`
instead cuts the image into overlapping tiles, scores the tiles in batches with the wrapped
detector (each tile at the model's resolution), and stitches the tiles' anomaly maps back into one
map at the image's resolution: in the overlaps either the maximum (default: a defect seen by one
tile is never diluted) or the mean. The image score comes from the stitched map: the mean of its
``top_fraction`` highest pixels (AnomalyDINO's top-1% rule applied to the map; the maximum when
``top_fraction`` is 0). Few-shot references are tiled the same way, so the memory holds good tiles.

Recipe option (``detector_params``): ``"tiling": {"grid": [4, 3], "overlap": 0.125, "reduce": "max"}``
or ``{"tile_size": 448, ...}`` (tiles of that many image pixels, as many as needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from inspector.core.types import AnomalyPrediction
from inspector.detectors.base import as_rgb_uint8
from inspector.errors import InspectorError

REDUCTIONS = ("max", "mean")


@dataclass(frozen=True)
class TilingOptions:
    """How an image is cut into tiles.

    Attributes:
        grid: ``(columns, rows)`` of tiles; the tile size follows from the image size and overlap.
        tile_size: Square tiles of this many image pixels (when ``grid`` is not given).
        overlap: Fraction of a tile shared with its neighbour (at least; tiles are spread evenly).
        reduce: ``max`` or ``mean`` of the tile maps where they overlap.
        batch_size: Tiles per call of the wrapped detector.
        top_fraction: Image score = mean of this fraction of the stitched map's highest pixels.
    """

    grid: tuple[int, int] | None = None
    tile_size: int | None = None
    overlap: float = 0.125
    reduce: str = "max"
    batch_size: int = 8
    top_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.grid is None and self.tile_size is None:
            raise InspectorError("Tiling needs a grid (columns, rows) or a tile_size in pixels.")
        if self.grid is not None and (len(self.grid) != 2 or min(self.grid) < 1):
            raise InspectorError(f"Tiling grid must be two positive counts (columns, rows), got {self.grid}.")
        if self.tile_size is not None and self.tile_size < 16:
            raise InspectorError(f"Tiling tile_size must be at least 16 pixels, got {self.tile_size}.")
        if not 0.0 <= self.overlap < 0.9:
            raise InspectorError(f"Tiling overlap must be in [0, 0.9), got {self.overlap}.")
        if self.reduce not in REDUCTIONS:
            raise InspectorError(f"Tiling reduce must be one of {', '.join(REDUCTIONS)}, got '{self.reduce}'.")
        if self.batch_size < 1:
            raise InspectorError(f"Tiling batch_size must be at least 1, got {self.batch_size}.")
        if not 0.0 <= self.top_fraction <= 1.0:
            raise InspectorError(f"Tiling top_fraction must be in [0, 1], got {self.top_fraction}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TilingOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InspectorError(f"Unknown tiling option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))}).")
        body = dict(data)
        if body.get("grid") is not None:
            body["grid"] = tuple(int(v) for v in body["grid"])
        return cls(**body)


def _starts(length: int, tile: int, count: int) -> list[int]:
    if count <= 1 or length <= tile:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _axis(length: int, count: int | None, tile: int | None, overlap: float) -> tuple[int, list[int]]:
    """Tile length and start positions along one axis."""
    if count is not None:
        size = length if count == 1 else math.ceil(length / (count - (count - 1) * overlap))
        size = min(length, size)
        return size, _starts(length, size, count)
    assert tile is not None
    size = min(length, tile)
    if length <= size:
        return size, [0]
    n = math.ceil((length - size) / max(1.0, size * (1.0 - overlap))) + 1
    return size, _starts(length, size, n)


def tile_boxes(height: int, width: int, options: TilingOptions) -> list[tuple[int, int, int, int]]:
    """``(y0, x0, y1, x1)`` of every tile, row-major; together they cover the whole image."""
    cols, rows = options.grid if options.grid is not None else (None, None)
    tw, xs = _axis(width, cols, options.tile_size, options.overlap)
    th, ys = _axis(height, rows, options.tile_size, options.overlap)
    return [(y, x, y + th, x + tw) for y in ys for x in xs]


def stitch(
    maps: Sequence[np.ndarray], boxes: Sequence[tuple[int, int, int, int]], shape: tuple[int, int], reduce: str = "max"
) -> np.ndarray:
    """One ``shape`` = (height, width) float32 map from tile maps (each of its box's size)."""
    if reduce not in REDUCTIONS:
        raise InspectorError(f"reduce must be one of {', '.join(REDUCTIONS)}, got '{reduce}'.")
    h, w = shape
    if reduce == "max":
        out = np.full((h, w), -np.inf, dtype=np.float32)
    else:
        out = np.zeros((h, w), dtype=np.float64)
        count = np.zeros((h, w), dtype=np.float64)
    for amap, (y0, x0, y1, x1) in zip(maps, boxes, strict=True):
        amap = np.asarray(amap)
        if amap.shape != (y1 - y0, x1 - x0):
            raise ValueError(f"tile map of shape {amap.shape} for a {y1 - y0}x{x1 - x0} box")
        if reduce == "max":
            np.maximum(out[y0:y1, x0:x1], amap, out=out[y0:y1, x0:x1])
        else:
            out[y0:y1, x0:x1] += amap
            count[y0:y1, x0:x1] += 1.0
    if reduce == "max":
        if np.isinf(out).any():
            raise ValueError("the tiles do not cover the whole image")
        return out
    if (count == 0).any():
        raise ValueError("the tiles do not cover the whole image")
    return (out / count).astype(np.float32)


def map_score(amap: np.ndarray, top_fraction: float) -> float:
    """Mean of the ``top_fraction`` highest values of a map (its maximum for 0 or too few pixels)."""
    flat = np.asarray(amap, dtype=np.float64).ravel()
    k = int(flat.size * top_fraction)
    if k <= 0:
        return float(flat.max())
    return float(np.partition(flat, flat.size - k)[flat.size - k :].mean())


class TiledDetector:
    """Wraps any detector: scores each image as overlapping tiles and stitches the maps."""

    def __init__(self, inner, options: TilingOptions):
        self.inner = inner
        self.options = options
        self.needs_references = inner.needs_references

    @property
    def info(self):
        return self.inner.info

    @property
    def resolution(self):
        return getattr(self.inner, "resolution", None)

    def _tiles(self, image: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
        boxes = tile_boxes(image.shape[0], image.shape[1], self.options)
        return [np.ascontiguousarray(image[y0:y1, x0:x1]) for y0, x0, y1, x1 in boxes], boxes

    def fit(self, references: Sequence[np.ndarray]) -> None:
        tiles: list[np.ndarray] = []
        for ref in references:
            tiles.extend(self._tiles(as_rgb_uint8(ref))[0])
        self.inner.fit(tiles)

    def _score_tiles(self, tiles: list[np.ndarray]) -> list[AnomalyPrediction]:
        out: list[AnomalyPrediction] = []
        step = self.options.batch_size
        for start in range(0, len(tiles), step):
            out.extend(self.inner.predict(tiles[start : start + step]))
        return out

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        images = [as_rgb_uint8(i) for i in images]
        cut = [self._tiles(image) for image in images]
        flat = [t for tiles, _ in cut for t in tiles]
        predictions = self._score_tiles(flat)  # tiles of several images share batches
        results, at = [], 0
        for image, (tiles, boxes) in zip(images, cut, strict=True):
            preds = predictions[at : at + len(tiles)]
            at += len(tiles)
            amap = stitch([p.anomaly_map for p in preds], boxes, image.shape[:2], self.options.reduce)
            results.append(
                AnomalyPrediction(
                    score=map_score(amap, self.options.top_fraction),
                    anomaly_map=amap,
                    random_weights=any(p.random_weights for p in preds),
                )
            )
        return results

    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        tiles = [t for image in images for t in self._tiles(as_rgb_uint8(image))[0]]
        step = self.options.batch_size
        for start in range(0, len(tiles), step):
            self.inner.encoder_forward(tiles[start : start + step])

    def __getattr__(self, name: str):  # use_openvino, use_torch, ... of the wrapped detector
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
