"""Tiny BLIP-2 / BLIP / CLIP architectures with random weights, a tokenizer built here, and a store."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from inspector.core.registry import ModelSpec
from tests.helpers import TINY_CLIP

TOKENIZER_VOCAB = 400  # byte-level BPE: 256 bytes + 5 special tokens + merges
TEXT_VOCAB = TOKENIZER_VOCAB + 8  # the model's embedding has a few ids the tokenizer lacks (<image> ...)
IMAGE_TOKEN = TOKENIZER_VOCAB  # BLIP-2's <image> token: outside the tokenizer, as on the hub (50265 of 50304)

TINY_BLIP2 = {
    "id": "tiny-blip2",
    "title": "tiny BLIP-2",
    "role": "captioner",
    "backend": "transformers",
    "architecture": "Blip2ForConditionalGeneration",
    "input_size": 32,
    "patch_size": 8,
    "config": {
        "num_query_tokens": 4,
        "image_token_index": IMAGE_TOKEN,
        "vision_config": {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        "qformer_config": {
            "vocab_size": 99,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "cross_attention_frequency": 1,
            "max_position_embeddings": 64,
        },
        "text_config": {
            "model_type": "opt",
            "vocab_size": TEXT_VOCAB,
            "hidden_size": 32,
            "ffn_dim": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 128,
            "word_embed_proj_dim": 32,
            "bos_token_id": 1,
            "eos_token_id": 1,
            "pad_token_id": 0,
        },
    },
}

TINY_BLIP = {
    "id": "tiny-blip",
    "title": "tiny BLIP",
    "role": "captioner",
    "backend": "transformers",
    "architecture": "BlipForConditionalGeneration",
    "input_size": 32,
    "patch_size": 8,
    "config": {
        "vision_config": {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        "text_config": {
            "vocab_size": TEXT_VOCAB,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": 4,
            "sep_token_id": 3,
            "pad_token_id": 0,
            "eos_token_id": 1,
        },
    },
}


@pytest.fixture(scope="session")
def tokenizer():
    from inspector.captioning.architectures import byte_bpe_tokenizer

    tok = byte_bpe_tokenizer(vocab_size=TOKENIZER_VOCAB)
    assert len(tok) <= TOKENIZER_VOCAB
    return tok


@pytest.fixture(scope="session")
def blip2_spec() -> ModelSpec:
    return ModelSpec.from_dict(TINY_BLIP2)


@pytest.fixture(scope="session")
def blip_spec() -> ModelSpec:
    return ModelSpec.from_dict(TINY_BLIP)


@pytest.fixture(scope="session")
def tiny_blip2(blip2_spec, tokenizer):
    from inspector.captioning.blip import Blip2Captioner

    captioner = Blip2Captioner(
        blip2_spec, device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer, max_new_tokens=12
    )
    captioner.load()
    return captioner


@pytest.fixture(scope="session")
def tiny_blip(blip_spec, tokenizer):
    from inspector.captioning.blip import BlipCaptioner

    captioner = BlipCaptioner(
        blip_spec, device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer, max_new_tokens=12
    )
    captioner.load()
    return captioner


@pytest.fixture(scope="session")
def tiny_clip():
    from inspector._torch import import_torch
    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime

    import_torch().manual_seed(0)
    return load_model(ModelSpec.from_dict(TINY_CLIP), make_runtime("cpu", "float32"), random_weights=True)


def part_image(seed: int = 0, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def blob_map(shape: tuple[int, int], centres, sigma: float = 4.0, heights=None, base: float = 0.1) -> np.ndarray:
    """A hand-built anomaly map: Gaussian blobs on a flat background."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    amap = np.full(shape, base, dtype=np.float32)
    for i, (cx, cy) in enumerate(centres):
        h = 1.0 if heights is None else heights[i]
        amap += h * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return amap


def content_hash(n: int | str) -> str:
    return hashlib.sha256(f"part-{n}".encode()).hexdigest()
