"""The detector protocol and helpers every detector shares.

A detector takes RGB ``uint8`` images ``(H, W, 3)`` (any size; a batch may mix sizes) and returns
one :class:`~inspector.core.types.AnomalyPrediction` per image, whose anomaly map has the input
image's resolution. Few-shot detectors need ``fit(references)`` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from inspector.backbones.runtime import Runtime
from inspector.core.types import AnomalyPrediction, DetectorInfo


@runtime_checkable
class Detector(Protocol):
    """What the pipeline, ``inspector eval`` and ``inspector bench`` rely on."""

    info: DetectorInfo
    needs_references: bool

    def fit(self, references: Sequence[np.ndarray]) -> None:
        """Remember known-good reference images (few-shot detectors; others ignore it)."""

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        """Score a batch of RGB uint8 images."""

    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        """Run only the bare image-encoder forward pass on the batch (for ``inspector bench``)."""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check and normalise one input image to ``(H, W, 3)`` uint8."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    return image


def preprocess(
    images: Sequence[np.ndarray], size: tuple[int, int], mean: Sequence[float], std: Sequence[float], runtime: Runtime
):
    """Resize (to ``size`` = (height, width)) and normalise a batch into a tensor.

    Returns a ``(N, 3, H, W)`` tensor on the runtime's device and dtype.
    """
    import cv2

    from inspector._torch import import_torch

    torch = import_torch()
    h, w = size
    batch = np.empty((len(images), h, w, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = as_rgb_uint8(image)
        if image.shape[:2] != (h, w):
            # shrinking: area averaging (antialiased, like torchvision's antialias=True); enlarging: bicubic
            shrink = image.shape[0] > h and image.shape[1] > w
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        batch[i] = image
    x = torch.from_numpy(batch).to(runtime.torch_device).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s).to(runtime.torch_dtype).contiguous(memory_format=torch.contiguous_format)


def maps_to_image_size(
    maps: np.ndarray, images: Sequence[np.ndarray], work_size: tuple[int, int], sigma: float = 4.0
) -> list[np.ndarray]:
    """Bring low-resolution anomaly maps ``(N, h, w)`` to each image's resolution.

    As in PatchCore and AnomalyDINO, each map is first bilinearly upsampled to the model's input
    resolution ``work_size`` = (height, width) and smoothed there with a Gaussian of ``sigma``
    pixels; the result is then resized to the image's own resolution.
    """
    import cv2

    out = []
    wh, ww = work_size
    for amap, image in zip(maps, images, strict=True):
        h, w = image.shape[:2]
        up = cv2.resize(np.asarray(amap, dtype=np.float32), (ww, wh), interpolation=cv2.INTER_LINEAR)
        if sigma > 0:
            up = cv2.GaussianBlur(up, (0, 0), sigmaX=sigma, sigmaY=sigma)
        if (h, w) != (wh, ww):
            up = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)
        out.append(up.astype(np.float32, copy=False))
    return out
