"""A tiny DINOv2 (real architecture, random weights) registered in a throw-away model registry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

TINY_DINO = {
    "schema": 1, "id": "tiny-dino", "title": "tiny DINOv2 for tests", "role": "vision", "backend": "transformers",
    "architecture": "Dinov2Model", "input_size": 56, "patch_size": 14, "size_mb": 1,
    "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
               "patch_size": 14, "image_size": 56},
}


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-dino.json").write_text(json.dumps(TINY_DINO))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(folder))
    return folder


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    low = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)


def write_parts(folder, n: int, defect_every: int = 3, size=(96, 80)):
    """``n`` PNG parts: the same texture, with a bright square on every ``defect_every``-th one."""
    folder.mkdir(parents=True, exist_ok=True)
    base = texture(size[1], size[0])
    paths = []
    for i in range(n):
        image = base.copy()
        image[i % 5, i % 7] = (i * 37) % 256  # every file differs (distinct content hashes)
        if defect_every and i % defect_every == defect_every - 1:
            image[20:44, 30:54] = 255
        path = folder / f"part_{i:03d}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def write_reference(path, size=(96, 80)):
    Image.fromarray(texture(size[1], size[0])).save(path)
    return path
