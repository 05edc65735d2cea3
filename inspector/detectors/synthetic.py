"""Synthetic defects on good images: cut-paste and noise patches, with their masks.

CutPaste (Li et al., CVPR 2021): a rectangle of 2-15 % of the image area with aspect ratio
0.3-3.3 is cut from one place of a good image, its brightness jittered, and pasted at another
place. Noise patch (as the anomaly-synthesis literature's simplest corruption): a rectangle of the
same size range replaced by the image plus strong Gaussian noise. Both return the new image and a
boolean mask of the changed region; both are deterministic for a given ``numpy`` generator.
"""

from __future__ import annotations

import numpy as np


def _box(shape: tuple[int, int], rng: np.random.Generator, area=(0.02, 0.15), aspect=(0.3, 3.3)):
    h, w = shape
    a = rng.uniform(*area) * h * w
    r = np.exp(rng.uniform(np.log(aspect[0]), np.log(aspect[1])))
    bh = int(np.clip(round(np.sqrt(a * r)), 2, h - 1))
    bw = int(np.clip(round(np.sqrt(a / r)), 2, w - 1))
    return bh, bw


def cut_paste(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A CutPaste defect: a patch of the image moved elsewhere, brightness jittered by +-25 %."""
    h, w = image.shape[:2]
    bh, bw = _box((h, w), rng)
    y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    y1, x1 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    patch = image[y0 : y0 + bh, x0 : x0 + bw].astype(np.float32)
    patch = patch * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25)
    out = image.copy()
    out[y1 : y1 + bh, x1 : x1 + bw] = np.clip(patch, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), dtype=bool)
    mask[y1 : y1 + bh, x1 : x1 + bw] = True
    return out, mask


def noise_patch(image: np.ndarray, rng: np.random.Generator, sigma: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """A rectangle of the image with Gaussian noise of ``sigma`` grey levels added."""
    h, w = image.shape[:2]
    bh, bw = _box((h, w), rng)
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    out = image.copy()
    region = out[y : y + bh, x : x + bw].astype(np.float32)
    out[y : y + bh, x : x + bw] = np.clip(region + rng.normal(0, sigma, region.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), dtype=bool)
    mask[y : y + bh, x : x + bw] = True
    return out, mask


def synthetic_defect(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cut-paste or noise patch, chosen at random (half each)."""
    return cut_paste(image, rng) if rng.random() < 0.5 else noise_patch(image, rng)
