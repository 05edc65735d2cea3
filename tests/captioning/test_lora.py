"""LoRA fine-tuning of a tiny BLIP on corrected captions: lower loss, new text, an adapter that reloads.

The tiny BLIP has random weights saved with ``save_pretrained`` and imported like real weights
onto the station (so the real loading path and its fingerprint are used).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from inspector.captioning import create_captioner
from inspector.captioning.lora import (
    CaptionExample,
    LoraOptions,
    evaluation_loss,
    generate,
    lora_settings,
    save_version,
    split_examples,
    train_from_reviews,
    train_lora,
)
from inspector.captioning.regions import region_crop
from inspector.captioning.text import blip_prompt, caption_target
from inspector.core.captioner_version import ADAPTER, CaptionerVersionError, read_version
from inspector.core.registry import get_spec, import_weights
from inspector.errors import InspectorError
from tests.helpers import failed_part

from .conftest import TINY_BLIP, blob_map, part_image

WORDS = ("pitting near the edge", "rust on the surface", "a dent near the edge", "a scratch on the surface", "a crack")
# The tiny decoder (2 layers, 32 wide) learns too slowly through query/value adapters alone for a
# test's few steps to make readable words: the text test uses the named deviation "all-linear".
WIDE = LoraOptions(target="all-linear", epochs=20, learning_rate=3e-2, batch_size=8, holdout=0.0)
PAPER = LoraOptions(epochs=8, learning_rate=3e-2, batch_size=8, holdout=0.0)  # query/value, alpha = r


def _tiny_blip_weights(folder, seed=0):
    """A tiny BLIP with transformers' own random initialisation (std 0.3: logits that can move in a
    few steps), saved with save_pretrained with its processor: real weights to the station."""
    import copy

    from inspector._torch import import_torch

    torch = import_torch()
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

    from inspector.captioning.architectures import byte_bpe_tokenizer

    config = copy.deepcopy(TINY_BLIP["config"])
    for part in (config, config["text_config"], config["vision_config"]):
        part["initializer_range"] = 0.3
    torch.manual_seed(seed)
    BlipForConditionalGeneration(BlipConfig(**config)).save_pretrained(folder)
    BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=byte_bpe_tokenizer(vocab_size=400),
    ).save_pretrained(folder)


@pytest.fixture
def saved_blip(tmp_path):
    """The tiny BLIP's weights imported onto the station as ``station-blip`` (a real, fingerprinted load)."""
    body = {k: v for k, v in TINY_BLIP.items() if k != "config"}
    body["id"] = "station-blip"
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "station-blip.json").write_text(json.dumps(body))
    _tiny_blip_weights(tmp_path / "saved")
    import_weights(tmp_path / "saved", "station-blip", folder=registry)
    return get_spec("station-blip", folder=registry), registry


def _captioner(spec, **kw):
    return create_captioner(spec, device="cpu", dtype="float32", max_new_tokens=12, **kw)


def _examples(n=20):
    out = []
    for i in range(n):
        image = part_image(100 + i, (64, 64))
        crop = region_crop(image, blob_map((64, 64), [(16 + i % 4 * 8, 24)], sigma=5.0)).crop
        out.append(CaptionExample(f"part-{i}", crop, "bracket", f"Bracket with {WORDS[i % len(WORDS)]}."))
    return out


def test_caption_targets_continue_the_prompt():
    prompt = blip_prompt("bracket")
    assert caption_target("Bracket with pitting near the bore.", prompt) == "pitting near the bore"
    assert caption_target("Pitting on the third thread", prompt) == "pitting on the third thread"


def test_lora_on_20_corrected_captions_lowers_the_loss_changes_the_text_and_reloads(saved_blip, tmp_path):
    spec, _registry = saved_blip
    examples = _examples(20)
    captioner = _captioner(spec)
    captioner.load()
    assert captioner.fingerprint.startswith("sha256:") and not captioner.random_weights
    before_text = generate(captioner, examples)
    before_loss = evaluation_loss(captioner, examples)

    settings = lora_settings(captioner, WIDE)
    report = train_lora(captioner, examples, WIDE)
    after_loss = evaluation_loss(captioner, examples)
    after_text = generate(captioner, examples)
    assert report.n_train == 20 and len(report.epoch_losses) == 20
    assert 0 < report.trainable_parameters < report.total_parameters / 2  # only the adapters train
    assert after_loss < before_loss * 0.7, (before_loss, after_loss)
    assert report.epoch_losses[-1] < report.epoch_losses[0]
    changed = sum(a != b for a, b in zip(before_text, after_text, strict=True))
    assert changed >= 15, list(zip(before_text, after_text, strict=True))
    learnt = {"near", "edge", "surfac", "on", "the"}  # the corrected captions' words (byte-level BPE pieces)
    assert sum(any(w in t.lower() for w in learnt) for t in after_text) >= 15, after_text

    version, folder = save_version(
        captioner, tmp_path / "captioners", settings, training=report.as_dict(), data={}, metrics={}
    )
    assert (folder / ADAPTER).is_file() and folder.name == version.id
    assert version.base_model == "station-blip" and version.base_fingerprint == captioner.fingerprint
    assert version.adapter_fingerprint.startswith("sha256:")
    from safetensors import safe_open

    with safe_open(str(folder / ADAPTER), "np") as f:  # adapter weights only, never the base model
        names = list(f.keys())  # noqa: SIM118 - safe_open is not a dict
    assert names and all("lora_" in k for k in names)

    reloaded = _captioner(spec, adapter=str(folder))
    assert reloaded.model_id == version.id
    assert generate(reloaded, examples) == after_text
    assert reloaded.caption(examples[0].crop, reloaded.prompt_for("bracket")).model_id == version.id


def test_the_papers_query_value_adapters_lower_the_loss_and_reload_exactly(saved_blip, tmp_path):
    spec, _registry = saved_blip
    examples = _examples(20)
    captioner = _captioner(spec)
    settings = lora_settings(captioner, PAPER)
    assert settings == {
        "r": 8,
        "lora_alpha": 8.0,
        "lora_dropout": 0.0,
        "target_modules": ["query", "value"],
        "bias": "none",
    }
    before = evaluation_loss(captioner, examples)
    report = train_lora(captioner, examples, PAPER)
    after = evaluation_loss(captioner, examples)
    assert after < before * 0.9, (before, after)
    _version, folder = save_version(captioner, tmp_path / "v", settings, training=report.as_dict(), data={}, metrics={})
    assert evaluation_loss(_captioner(spec, adapter=str(folder)), examples) == pytest.approx(after, rel=1e-6)


def test_an_adapter_for_other_base_weights_or_an_altered_adapter_is_refused(saved_blip, tmp_path):
    spec, registry = saved_blip
    captioner = _captioner(spec)
    options = LoraOptions(epochs=1, holdout=0.0)
    report = train_lora(captioner, _examples(4), options)
    _version, folder = save_version(
        captioner, tmp_path / "v", lora_settings(captioner, options), training=report.as_dict(), data={}, metrics={}
    )

    # other weights imported under the same model id (e.g. a newer download): the adapter does not fit them
    _tiny_blip_weights(tmp_path / "other", seed=1)
    import_weights(tmp_path / "other", "station-blip", folder=registry)
    with pytest.raises(CaptionerVersionError, match="trained on other 'station-blip' weights") as info:
        _captioner(get_spec("station-blip", folder=registry), adapter=str(folder)).load()
    assert "inspector train-captioner --from-reviews" in str(info.value)

    # the adapter file changed after training
    import_weights(tmp_path / "saved", "station-blip", folder=registry)  # the original weights again
    data = bytearray((folder / ADAPTER).read_bytes())
    data[-1] ^= 0xFF
    (folder / ADAPTER).write_bytes(bytes(data))
    with pytest.raises(CaptionerVersionError, match="has changed since it was trained"):
        _captioner(spec, adapter=str(folder)).load()
    with pytest.raises(CaptionerVersionError, match="no captioner version"):
        _captioner(spec, adapter=str(tmp_path / "nowhere"))


def test_split_keeps_a_held_out_share_and_two_for_training():
    examples = _examples(10)
    train, held = split_examples(examples, 0.2, seed=0)
    assert len(held) == 2 and len(train) == 8
    assert {e.inspection_id for e in train}.isdisjoint(e.inspection_id for e in held)
    train, held = split_examples(examples[:3], 0.5, seed=0)
    assert len(train) == 2 and len(held) == 1  # at least two always train
    with pytest.raises(InspectorError, match="Unknown LoRA target"):
        LoraOptions(target="everything")


def _stored_parts(store, tmp_path, n):
    """``n`` flagged parts with kept images and anomaly maps, captioned by the machine."""
    from PIL import Image

    from inspector.store import CaptionStatus, sha256_file

    recipe = store.save_recipe_version("bracket-A", {"object_name": "bracket", "threshold": 0.5})
    ids = []
    for i in range(n):
        image = part_image(200 + i, (64, 64))
        path = tmp_path / f"part_{i}.png"
        Image.fromarray(image).save(path)
        item = failed_part(
            sha256_file(path),
            recipe.id,
            file_path=str(path),
            image_artifact=store.artifacts.save_image_copy(path),
            heatmap_artifact=store.artifacts.save_heatmap(blob_map((64, 64), [(20 + i % 3 * 10, 30)], sigma=5.0)),
            caption_status=CaptionStatus.PENDING,
        )
        store.add_inspections([item])
        store.set_caption(item.id, status=CaptionStatus.DONE, caption="Bracket with a hole.")
        ids.append(item.id)
    return ids


def test_train_from_reviews_learns_the_operators_words_and_records_the_version(saved_blip, tmp_path):
    from inspector.store import open_store

    spec, _registry = saved_blip
    with open_store(tmp_path / "db" / "inspector.db") as store:
        ids = _stored_parts(store, tmp_path, 12)
        for i, part in enumerate(ids[:10]):
            store.correct_caption(part, "ana", f"Bracket with {WORDS[i % len(WORDS)]}.")
        assert store.verify_audit().ok
        with pytest.raises(InspectorError, match="at least 4 are needed"):
            train_from_reviews(store, captioner=_captioner(spec), recipe_name="other-recipe")
        options = LoraOptions(epochs=3, learning_rate=3e-2, holdout=0.2)
        outcome = train_from_reviews(
            store, captioner=_captioner(spec), recipe_name="bracket-A", out_dir=tmp_path / "captioners", options=options
        )
    v = read_version(outcome.folder)
    assert v == outcome.version
    assert sorted(v.data["train"] + v.data["held_out"]) == sorted(ids[:10])  # only corrected parts
    assert len(v.data["held_out"]) == 2
    assert set(v.metrics["before"]) == {"n", "bleu4", "rouge_l", "cider"} and v.metrics["after"]["n"] == 2
    assert outcome.report.epoch_losses[-1] < outcome.report.epoch_losses[0]
    assert v.training["dtype"] == "float32" and len(v.training["seconds_per_epoch"]) == 3
    assert np.isfinite(v.metrics["after"]["cider"])


def test_the_command_line_corrects_captions_and_trains_a_version_a_recipe_selects(
    saved_blip, tmp_path, monkeypatch, capsys
):
    from inspector.captioning.factory import create_captioner, recipe_captioner
    from inspector.cli import main
    from inspector.core.recipe import Recipe, load_recipe, save_recipe
    from inspector.store import open_store

    _spec, registry = saved_blip
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(registry))
    db = tmp_path / "db" / "inspector.db"
    with open_store(db) as store:
        ids = _stored_parts(store, tmp_path, 5)
    for i, part in enumerate(ids):
        assert (
            main(["review", "caption", part[:13], f"Bracket with {WORDS[i]}.", "--operator", "ana", "--db", str(db)])
            == 0
        )
    assert main(["review", "caption", ids[0], "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    assert "ana: Bracket with pitting near the edge." in listed and "captioner: Bracket with a hole." in listed
    assert main(["review", "caption", ids[0], "  ", "--operator", "ana", "--db", str(db)]) == 2  # refused, clearly
    assert "cannot be empty" in capsys.readouterr().err

    out = tmp_path / "captioners"
    argv = ["train-captioner", "--from-reviews", "--captioner", "station-blip", "--epochs", "1", "--holdout", "0"]
    assert main([*argv, "--db", str(db), "--out", str(out), "--device", "cpu", "--dtype", "float32", "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert "epoch 1/1 loss" in captured.err  # progress lines
    folder = out / record["id"]
    assert record["base_model"] == "station-blip" and sorted(record["data"]["train"]) == sorted(ids)

    path = tmp_path / "bracket.json"
    save_recipe(Recipe(name="bracket", object_name="bracket", captioner_version=str(folder)), path)
    chosen = recipe_captioner(load_recipe(path), "blip-base")
    assert chosen == str(folder) and recipe_captioner(load_recipe(path), "none") == "none"
    captioner = create_captioner(chosen, device="cpu", dtype="float32", max_new_tokens=4)
    assert captioner.model_id == record["id"]
    assert captioner.caption(part_image(1, (64, 64)), captioner.prompt_for("bracket")).model_id == record["id"]


def test_blip2_gets_peft_query_value_targets_and_its_loss_falls(tiny_blip2):
    """BLIP-2's layout (image tokens, BOS, question, answer, eos): the adapters on OPT's q_proj / v_proj."""
    from inspector.captioning.lora import _ids_and_labels

    settings = lora_settings(tiny_blip2, PAPER)
    assert settings["target_modules"] == ["q", "v", "q_proj", "v_proj"]
    prompt = tiny_blip2.prompt_for("bracket")
    ids, labels = _ids_and_labels(tiny_blip2, prompt.text, "pitting near the edge", 40)
    n_image = tiny_blip2.model.config.num_query_tokens
    assert ids[:n_image] == [tiny_blip2.model.config.image_token_index] * n_image
    assert labels[: len(ids) - len(tiny_blip2._text_ids(" pitting near the edge")) - 1] == [-100] * (
        len(ids) - len(tiny_blip2._text_ids(" pitting near the edge")) - 1
    )
    assert labels[-1] == ids[-1] == tiny_blip2.model.config.text_config.eos_token_id
    examples = _examples(8)
    before = evaluation_loss(tiny_blip2, examples)
    train_lora(tiny_blip2, examples, replace(PAPER, epochs=6, learning_rate=5e-2))
    try:
        assert evaluation_loss(tiny_blip2, examples) < before
    finally:
        tiny_blip2.close()  # the session fixture's model has an adapter now: load a clean one next time
