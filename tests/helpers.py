"""Test helpers: a tiny DINOv2 spec (real architecture, random weights) and generated part images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from inspector.core.recipe import Recipe

TINY_DINO = {
    "schema": 1,
    "id": "tiny-dino",
    "title": "tiny DINOv2 for tests",
    "role": "vision",
    "backend": "transformers",
    "architecture": "Dinov2Model",
    "input_size": 56,
    "patch_size": 14,
    "size_mb": 1,
    "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "config": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "patch_size": 14,
        "image_size": 56,
    },
}

# A tiny open_clip CLIP (real architecture; random weights only).
TINY_CLIP = {
    "id": "tiny-clip",
    "role": "clip",
    "backend": "open_clip",
    "architecture": "tiny",
    "input_size": 64,
    "patch_size": 16,
    "config": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    },
}


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


def bracket_recipe(reference, **changes) -> Recipe:
    """The tests' few-shot recipe: "bracket" with AnomalyDINO on the tiny DINOv2 (56 px, threshold 0.05)
    and one good reference, written at ``reference``; ``changes``: other field values."""
    return Recipe(
        **{
            "name": "bracket",
            "object_name": "bracket",
            "detector": "anomalydino",
            "model": "tiny-dino",
            "references": (str(write_reference(reference)),),
            "threshold": 0.05,
            "detector_params": {"resolution": 56},
            **changes,
        }
    )


def failed_part(content_hash: str, recipe_version_id: str, **fields):
    """A flagged inspection to store: FAIL at 0.9 over 0.5, AnomalyDINO on dinov2-small; ``fields``: the rest."""
    from inspector.store import NewInspection, Verdict

    return NewInspection(
        **{
            "content_hash": content_hash,
            "recipe_version_id": recipe_version_id,
            "score": 0.9,
            "threshold": 0.5,
            "verdict": Verdict.FAIL,
            "detector": "anomalydino",
            "model_id": "dinov2-small",
            **fields,
        }
    )


def tiny_dino(recipe):
    """The recipe's anomalydino detector on the tiny DINOv2 (random weights, CPU), not yet fitted."""
    from inspector.detectors.factory import create_detector

    return create_detector(
        "anomalydino",
        model="tiny-dino",
        device="cpu",
        dtype="float32",
        random_weights=True,
        params=recipe.detector_params,
    )


def fitted_tiny_dino(recipe):
    """:func:`tiny_dino`, fitted on the recipe's references as a run fits it (``fit_for_recipe``)."""
    from inspector.pipeline import fit_for_recipe

    detector = tiny_dino(recipe)
    fit_for_recipe(detector, recipe)
    return detector


def make_tiny_dataset(root, size=(64, 48)):
    """A valid MVTec-layout category with 2 good train images, 2 good and 2 defective test images."""
    rng = np.random.default_rng(0)
    for sub in ("train/good", "test/good", "test/scratch", "ground_truth/scratch"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(2):
        for sub in ("train/good", "test/good"):
            Image.fromarray(rng.integers(100, 140, (size[1], size[0], 3), dtype=np.uint8)).save(
                root / sub / f"{i:03d}.png"
            )
        img = rng.integers(100, 140, (size[1], size[0], 3), dtype=np.uint8)
        img[10:20, 10:20] = 255
        Image.fromarray(img).save(root / "test/scratch" / f"{i:03d}.png")
        mask = np.zeros((size[1], size[0]), dtype=np.uint8)
        mask[10:20, 10:20] = 255
        Image.fromarray(mask).save(root / "ground_truth/scratch" / f"{i:03d}_mask.png")
    return root
