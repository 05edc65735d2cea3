"""Shared pieces of the training tests: real images of ../shared/datasets and pasted-patch defects."""

from __future__ import annotations

import copy

import numpy as np

from tests.conftest import shared_dataset
from tests.helpers import TINY_CLIP, TINY_DINO

SIDE = 112


def tile_images(n: int, side: int = SIDE) -> list[np.ndarray]:
    """The first ``n`` good Magnetic Tile training images, resized to ``side`` x ``side``."""
    import cv2

    from inspector.core.images import load_image

    root = shared_dataset("magnetic_tile") / "magnetic_tile" / "train" / "good"
    files = sorted(root.glob("*.jpg"))[:n]
    return [cv2.resize(load_image(p), (side, side), interpolation=cv2.INTER_AREA) for p in files]


def donor_image(side: int = SIDE) -> np.ndarray:
    """A ball-screw image (another product): the source of the pasted patches."""
    import cv2

    from inspector.core.images import load_image

    root = shared_dataset("bsdata") / "ball_screw" / "train" / "good"
    return cv2.resize(load_image(sorted(root.iterdir())[0]), (side, side), interpolation=cv2.INTER_AREA)


def pasted(images: list[np.ndarray], seed: int = 0, frac: float = 0.3) -> list[np.ndarray]:
    """Each image with a square patch of the donor image pasted at a random place (fixed seed)."""
    rng = np.random.default_rng(seed)
    donor = donor_image(images[0].shape[0])
    out = []
    for image in images:
        h, w = image.shape[:2]
        s = int(frac * min(h, w))
        y, x = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
        dy, dx = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
        copy_ = image.copy()
        copy_[y : y + s, x : x + s] = donor[dy : dy + s, dx : dx + s]
        out.append(copy_)
    return out


def separation(detector, good: list[np.ndarray], bad: list[np.ndarray]) -> float:
    """Image AUROC of the detector's scores, good vs pasted."""
    from inspector.core.metrics import image_auroc

    scores = [p.score for p in detector.predict(good + bad)]
    return image_auroc(np.r_[np.zeros(len(good)), np.ones(len(bad))], np.asarray(scores))


def tiny_dino(seed: int = 0):
    """The tests' tiny DINOv2, its random weights drawn with ``seed`` (the same model every run)."""
    import torch

    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import ModelSpec

    torch.manual_seed(seed)
    return load_model(ModelSpec.from_dict(TINY_DINO), make_runtime("cpu", "float32"), random_weights=True)


def tiny_clip(side: int = SIDE, seed: int = 0):
    """The tests' tiny CLIP at ``side`` px input (a 7x7 grid of 16 px patches at 112), seeded weights."""
    import torch

    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import ModelSpec

    spec = copy.deepcopy(TINY_CLIP)
    spec["config"]["vision_cfg"]["image_size"] = side
    spec["input_size"] = side
    torch.manual_seed(seed)
    return load_model(ModelSpec.from_dict(spec), make_runtime("cpu", "float32"), random_weights=True)
