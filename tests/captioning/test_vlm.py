"""Qwen3-VL and Florence-2 captioners on tiny random architectures (transformers-native classes)."""

from __future__ import annotations

import json

import pytest

from inspector.captioning import ResultStatus, create_captioner
from inspector.captioning.base import RANDOM_PREFIX
from inspector.captioning.text import CaptionPrompt, clean_caption, first_sentence, vlm_prompt
from inspector.captioning.vlm import Florence2Captioner, Qwen3VLCaptioner
from inspector.core.registry import ModelSpec, get_spec, import_weights
from inspector.errors import WeightsMissingError
from tests.captioning.conftest import part_image

IMAGE, VIDEO, V_START, V_END = 590, 591, 592, 593

TINY_QWEN3VL = {
    "id": "tiny-qwen3-vl",
    "role": "captioner",
    "backend": "transformers",
    "architecture": "Qwen3VLForConditionalGeneration",
    "input_size": 64,
    "patch_size": 16,
    "preprocess": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    "config": {
        "image_token_id": IMAGE,
        "video_token_id": VIDEO,
        "vision_start_token_id": V_START,
        "vision_end_token_id": V_END,
        "vision_config": {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 48,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        "text_config": {
            "vocab_size": 600,
            "hidden_size": 48,
            "intermediate_size": 96,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 12,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 2, 2],
                "mrope_interleaved": True,
            },
            "max_position_embeddings": 2048,
            "eos_token_id": 1,
            "pad_token_id": 0,
        },
    },
}

TINY_FLORENCE2 = {
    "id": "tiny-florence-2",
    "role": "captioner",
    "backend": "transformers",
    "architecture": "Florence2ForConditionalGeneration",
    "input_size": 96,
    "patch_size": 32,
    "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "config": {
        "image_token_id": 499,
        "vision_config": {
            "depths": [1, 1, 1, 1],
            "embed_dim": [16, 32, 48, 64],
            "num_heads": [1, 2, 3, 4],
            "num_groups": [1, 2, 3, 4],
            "projection_dim": 32,
            "window_size": 4,
        },
        "text_config": {
            "model_type": "bart",
            "vocab_size": 500,
            "d_model": 32,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "decoder_ffn_dim": 64,
            "max_position_embeddings": 1024,
            "bos_token_id": 0,
            "pad_token_id": 1,
            "eos_token_id": 2,
            "decoder_start_token_id": 2,
        },
    },
}

CASES = {"qwen3vl": (TINY_QWEN3VL, Qwen3VLCaptioner), "florence2": (TINY_FLORENCE2, Florence2Captioner)}


@pytest.fixture(scope="module", params=sorted(CASES))
def tiny_vlm(request, tokenizer):
    body, cls = CASES[request.param]
    captioner = cls(
        ModelSpec.from_dict(body),
        device="cpu",
        dtype="float32",
        random_weights=True,
        tokenizer=tokenizer,
        max_new_tokens=10,
        min_new_tokens=4,
    )
    captioner.load()
    return captioner


def test_generates_bounded_labelled_deterministic_text(tiny_vlm):
    calls = []
    prompt = tiny_vlm.prompt_for("ball screw", ("pitting", "scratch"))
    first = tiny_vlm.caption(part_image(0, (120, 90)), prompt, checkpoint=lambda: calls.append(1))
    assert first.text.startswith(RANDOM_PREFIX) and first.random_weights
    assert first.status in (ResultStatus.OK, ResultStatus.UNUSABLE)
    assert 4 <= first.new_tokens <= 10
    assert len(calls) > first.new_tokens  # the checkpoint runs inside the model: pausable, cancellable
    assert tiny_vlm.caption(part_image(0, (120, 90)), prompt).text == first.text
    other = tiny_vlm.caption(part_image(1, (40, 300)), prompt)  # any crop shape
    assert other.new_tokens <= 10


def test_qwen_prompt_names_the_part_and_the_vocabulary_and_holds_the_image_tokens(tokenizer):
    captioner = Qwen3VLCaptioner(
        ModelSpec.from_dict(TINY_QWEN3VL), device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer
    )
    captioner.load()
    prompt = captioner.prompt_for("ball screw", ("pitting", " ", "scratch"))
    assert "ball screw" in prompt.text and "pitting, scratch" in prompt.text and "one short sentence" in prompt.text
    assert prompt.one_sentence
    image = part_image(2, (300, 200))
    ids, vision = captioner._prepare(image, prompt.text)
    t, h, w = vision["image_grid_thw"][0].tolist()
    n_image = t * h * w // 4
    assert ids.count(IMAGE) == n_image > 0
    start = ids.index(V_START)
    assert ids[start + 1 : start + 1 + n_image] == [IMAGE] * n_image and ids[start + 1 + n_image] == V_END
    assert vision["pixel_values"].shape[0] == t * h * w
    # the crop is shrunk to at most QWEN_MAX_SIDE a side before the processor: bounded image tokens
    big_ids, _ = captioner._prepare(part_image(3, (2000, 1500)), prompt.text)
    assert big_ids.count(IMAGE) <= (448 // 32) ** 2


def test_florence_input_layout_is_image_tokens_bos_prompt_eos(tokenizer):
    captioner = Florence2Captioner(
        ModelSpec.from_dict(TINY_FLORENCE2), device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer
    )
    captioner.load()
    prompt = captioner.prompt_for("ball screw", ("pitting",))
    assert prompt.text == "Describe in detail what is shown in the image."
    ids, vision = captioner._prepare(part_image(4), prompt.text)
    assert captioner._image_tokens == (96 // 32) ** 2 + 1
    assert ids[: captioner._image_tokens] == [499] * captioner._image_tokens
    assert ids[captioner._image_tokens] == 0 and ids[-1] == 2
    assert tokenizer.decode(ids[captioner._image_tokens + 1 : -1]) == prompt.text
    assert tuple(vision["pixel_values"].shape) == (1, 3, 96, 96)


def test_one_sentence_answers():
    assert first_sentence("A dent near the rim. It is deep.") == "A dent near the rim."
    assert first_sentence("no full stop here") == "no full stop here"
    prompt = vlm_prompt("tile", ("crack",))
    cleaned = clean_caption("There is a crack across the tile. The rest looks fine.\nMore", prompt)
    assert cleaned.text == "There is a crack across the tile." and cleaned.usable
    assert clean_caption("A crack. Another", CaptionPrompt(text="q")).text.startswith("A crack. Another")


@pytest.mark.parametrize("model_id", ["qwen3-vl-2b", "florence-2-base"])
def test_registry_entries_and_missing_weights_message(model_id):
    captioner = create_captioner(model_id)
    assert type(captioner) is {"qwen3-vl-2b": Qwen3VLCaptioner, "florence-2-base": Florence2Captioner}[model_id]
    with pytest.raises(WeightsMissingError) as info:
        captioner.caption(part_image(5), captioner.prompt_for("screw"))
    message = str(info.value)
    assert model_id in message and "inspector models import" in message and "inspector models download" in message


@pytest.mark.parametrize("which", sorted(CASES))
def test_saved_weights_load_through_from_pretrained(which, tokenizer, tmp_path):
    """A tiny model saved with save_pretrained and imported counts as real weights and captions the same."""
    body, cls = CASES[which]
    tiny = cls(ModelSpec.from_dict(body), device="cpu", dtype="float32", random_weights=True, tokenizer=tokenizer)
    tiny.load()
    saved = tmp_path / "saved"
    tiny.model.save_pretrained(saved)
    entry = {k: v for k, v in body.items() if k != "config"} | {"id": f"saved-{which}"}
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / f"{entry['id']}.json").write_text(json.dumps(entry))
    import_weights(saved, entry["id"], folder=registry)
    real = cls(
        get_spec(entry["id"], folder=registry),
        device="cpu",
        dtype="float32",
        tokenizer=tokenizer,
        image_processor=tiny._image_processor,
        min_new_tokens=3,
    )
    prompt = real.prompt_for("screw")
    result = real.caption(part_image(6), prompt)
    reference = cls(
        ModelSpec.from_dict(body),
        device="cpu",
        dtype="float32",
        random_weights=True,
        tokenizer=tokenizer,
        min_new_tokens=3,
    ).caption(part_image(6), prompt)
    assert not result.random_weights
    assert RANDOM_PREFIX + result.text == reference.text
