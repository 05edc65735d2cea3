"""The detector protocol and helpers every detector shares.

A detector takes RGB ``uint8`` images ``(H, W, 3)`` (any size; a batch may mix sizes) and returns
one :class:`~inspector.core.types.AnomalyPrediction` per image, whose anomaly map has the input
image's resolution. Few-shot detectors need ``fit(references)`` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from inspector._torch import import_torch
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


def resize_tensor(x, size: tuple[int, int], interpolation: str = "bicubic"):
    """Resize float ``(N, C, H, W)`` images to ``size`` = (height, width), as the reference code does.

    ``bicubic`` and ``bilinear`` are antialiased (torch's ``antialias=True``, which matches
    torchvision's ``Resize(..., antialias=True)`` on tensors): a side that shrinks is low-pass
    filtered, a side that grows is interpolated, each axis on its own, so an image larger than the
    input in only one dimension is treated right on both. Values are not clipped (bicubic may
    overshoot a little, as in the reference implementations).
    """
    torch = import_torch()
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if interpolation == "nearest":
        return torch.nn.functional.interpolate(x, size=size, mode="nearest-exact")
    return torch.nn.functional.interpolate(x, size=size, mode=interpolation, align_corners=False, antialias=True)


def preprocess(
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    runtime: Runtime,
    interpolation: str = "bicubic",
):
    """Scale to [0, 1], resize (to ``size`` = (height, width)) and normalise a batch into a tensor.

    Resizing is done on the float tensor (:func:`resize_tensor`; the registry's
    ``preprocess.interpolation``, antialiased bicubic for every registered model), in float32.
    Returns a ``(N, 3, H, W)`` tensor on the runtime's device and dtype.
    """
    torch = import_torch()
    h, w = size
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    batch = []
    for image in images:
        # the float copy is made by numpy: a read-only frame (decoded from bytes) is never shared with torch
        image = np.ascontiguousarray(as_rgb_uint8(image), dtype=np.float32)
        x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).div_(255.0)
        batch.append(resize_tensor(x, (h, w), interpolation))
    x = ((torch.cat(batch) - m) / s).to(runtime.torch_device)
    return x.to(runtime.torch_dtype).contiguous(memory_format=torch.contiguous_format)


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


def loaded_info(loaded, detector: str) -> DetectorInfo:
    """What a detector built on one ``LoadedModel`` says it is: its name, the model, where and in which
    precision it runs, and which weights (random or the files' fingerprint)."""
    return DetectorInfo(
        detector=detector,
        model_id=loaded.spec.id,
        device=loaded.runtime.device,
        dtype=loaded.runtime.dtype,
        random_weights=loaded.random_weights,
        fingerprint=loaded.fingerprint,
    )


def clip_of_detector(detector: object):
    """The CLIP ``LoadedModel`` a WinCLIP detector already holds, to share it; None for other detectors."""
    for name in ("loaded", "_loaded"):
        loaded = getattr(detector, name, None)
        if loaded is not None and getattr(loaded.spec, "role", "") == "clip" and loaded.tokenizer is not None:
            return loaded
    return None
