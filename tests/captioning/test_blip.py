"""BLIP-2 and BLIP captioners on tiny random architectures, with the tokenizer the tests build."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inspector.captioning import CaptionCancelled, NoCaptioner, ResultStatus, create_captioner
from inspector.captioning.base import RANDOM_PREFIX
from inspector.captioning.blip import Blip2Captioner, BlipCaptioner
from inspector.core.registry import get_spec, import_weights
from inspector.errors import InspectorError, WeightsMissingError
from tests.captioning.conftest import TINY_BLIP, TINY_BLIP2, part_image


@pytest.mark.parametrize("name", ["tiny_blip2", "tiny_blip"])
def test_random_weight_caption_is_labelled_and_deterministic(name, request):
    captioner = request.getfixturevalue(name)
    calls = []
    prompt = captioner.prompt_for("screw")
    first = captioner.caption(part_image(0), prompt, checkpoint=lambda: calls.append(1))
    assert first.text.startswith(RANDOM_PREFIX)
    assert first.random_weights and "random weights" in first.reason
    assert first.status in (ResultStatus.OK, ResultStatus.UNUSABLE)
    assert 1 <= first.new_tokens <= 12
    assert first.model_id == captioner.spec.id and first.seconds > 0
    # the checkpoint runs before every layer: vision, (Q-Former,) and every decoding step
    assert len(calls) > first.new_tokens * 2
    again = captioner.caption(part_image(0), prompt)
    assert again.text == first.text


def test_blip2_input_ids_hold_the_query_slots_then_bos_and_question(tiny_blip2, tokenizer):
    ids = tiny_blip2._input_ids("Question: What defect is visible on this screw? Answer:")
    config = tiny_blip2.model.config
    assert ids[:4] == [config.image_token_index] * 4
    assert ids[4] == config.text_config.bos_token_id
    assert tokenizer.decode(ids[5:]) == "Question: What defect is visible on this screw? Answer:"


def test_blip_input_ids_are_bos_prompt_sep(tiny_blip, tokenizer):
    ids = tiny_blip._input_ids("a close-up photo of a screw with")
    assert ids[0] == 4 and ids[-1] == 3
    assert tokenizer.decode(ids[1:-1]) == "a close-up photo of a screw with"


@pytest.mark.parametrize("spec_name", ["blip2_spec", "blip_spec"])
def test_fixed_generation_length_for_benchmarks(spec_name, request, tokenizer):
    spec = request.getfixturevalue(spec_name)
    cls = Blip2Captioner if spec.architecture.startswith("Blip2") else BlipCaptioner
    captioner = cls(
        spec,
        device="cpu",
        dtype="bfloat16",
        random_weights=True,
        tokenizer=tokenizer,
        min_new_tokens=7,
        max_new_tokens=7,
    )
    result = captioner.caption(part_image(1), captioner.prompt_for("tile"))
    assert result.new_tokens == 7
    import torch

    dtypes = {p.dtype for p in captioner.model.vision_model.parameters()}
    assert dtypes == {torch.bfloat16}
    if cls is Blip2Captioner:  # transformers keeps the Q-Former in fp32, as from_pretrained(dtype=bf16) does
        assert {p.dtype for p in captioner.model.qformer.parameters()} == {torch.float32}


def test_a_readable_answer_comes_out_clean(tiny_blip2, tokenizer, monkeypatch):
    """Steer generation to a known answer (the weights are random) and check the clean-up end to end."""
    text = " a scratch near the edge a scratch near the edge\nQuestion: and"
    answer = tokenizer(text, add_special_tokens=False)["input_ids"]
    start = len(tiny_blip2._input_ids(tiny_blip2.prompt_for("screw").text))
    eos = tiny_blip2.model.config.text_config.eos_token_id

    def allowed(_batch, ids):
        step = ids.shape[-1] - start
        return [answer[step]] if step < len(answer) else [eos]

    kwargs = tiny_blip2._generation_kwargs
    monkeypatch.setattr(
        tiny_blip2,
        "_generation_kwargs",
        lambda: {
            **kwargs(),
            "prefix_allowed_tokens_fn": allowed,
            "no_repeat_ngram_size": 0,
            "repetition_penalty": 1.0,
            "max_new_tokens": 40,
        },
    )
    result = tiny_blip2.caption(part_image(2), tiny_blip2.prompt_for("screw"))
    assert result.status == ResultStatus.OK
    assert result.text == RANDOM_PREFIX + "A scratch near the edge."


def test_checkpoint_can_cancel_a_caption(tiny_blip):
    def stop():
        raise CaptionCancelled("station stopped before captioning")

    with pytest.raises(CaptionCancelled, match="station stopped"):
        tiny_blip.caption(part_image(3), tiny_blip.prompt_for("screw"), checkpoint=stop)
    assert tiny_blip.caption(part_image(3), "a photo of").new_tokens > 0  # still usable afterwards


@pytest.mark.parametrize("model_id", ["blip2-opt-2.7b", "blip-base"])
def test_missing_weights_give_the_registry_message(model_id):
    captioner = create_captioner(model_id)
    assert not captioner.loaded
    with pytest.raises(WeightsMissingError) as info:
        captioner.caption(part_image(4), captioner.prompt_for("screw"))
    message = str(info.value)
    assert model_id in message and "inspector models import" in message and "inspector models download" in message
    assert not captioner.loaded


def _save_tiny(captioner, processor_cls, folder, with_processor=True, **processor_kwargs):
    from transformers import BlipImageProcessorPil

    from inspector.captioning.architectures import byte_bpe_tokenizer

    captioner.model.save_pretrained(folder)
    if with_processor:
        image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
        processor_cls(
            image_processor=image_processor, tokenizer=byte_bpe_tokenizer(vocab_size=400), **processor_kwargs
        ).save_pretrained(folder)


@pytest.mark.parametrize("which", ["blip2", "blip"])
def test_real_loading_path_from_an_imported_folder(which, request, tmp_path):
    """Weights saved by save_pretrained, imported like on an air-gapped station, loaded without the hub."""
    from transformers import Blip2Processor, BlipProcessor

    tiny = request.getfixturevalue(f"tiny_{which}")
    body = dict(TINY_BLIP2 if which == "blip2" else TINY_BLIP)
    body.pop("config")
    body["id"] = f"saved-{which}"
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / f"{body['id']}.json").write_text(json.dumps(body))
    saved = tmp_path / "saved"
    processor_cls = Blip2Processor if which == "blip2" else BlipProcessor
    _save_tiny(tiny, processor_cls, saved, **({"num_query_tokens": 4} if which == "blip2" else {}))
    import_weights(saved, body["id"], folder=registry)
    spec = get_spec(body["id"], folder=registry)
    captioner = create_captioner(spec, device="cpu", dtype="float32", max_new_tokens=12)
    result = captioner.caption(part_image(5), captioner.prompt_for("screw"))
    assert not result.random_weights and not result.text.startswith(RANDOM_PREFIX)
    reference = tiny.caption(part_image(5), tiny.prompt_for("screw"))
    assert RANDOM_PREFIX + result.text == reference.text
    assert result.new_tokens == reference.new_tokens

    # a folder with the weights but without tokenizer / image processor: a clear message
    bare = tmp_path / "bare"
    _save_tiny(tiny, processor_cls, bare, with_processor=False)
    import_weights(bare, body["id"], folder=registry)
    with pytest.raises(InspectorError, match="tokenizer and image-processor files"):
        create_captioner(get_spec(body["id"], folder=registry), device="cpu", dtype="float32").load()


def test_factory_and_spec_checks(blip_spec):
    assert isinstance(create_captioner("none"), NoCaptioner)
    assert isinstance(create_captioner(""), NoCaptioner)
    assert isinstance(create_captioner("blip-base"), BlipCaptioner)
    assert isinstance(create_captioner("blip2-opt-2.7b"), Blip2Captioner)
    with pytest.raises(InspectorError, match="not a captioner"):
        create_captioner("dinov2-small")
    with pytest.raises(InspectorError, match="needs a Blip2ForConditionalGeneration"):
        Blip2Captioner(blip_spec)
    with pytest.raises(InspectorError, match="max_new_tokens"):
        BlipCaptioner(blip_spec, max_new_tokens=0)
    with pytest.raises(InspectorError, match="inline test architecture"):
        BlipCaptioner(blip_spec, device="cpu", dtype="float32").load()
    result = NoCaptioner().caption(part_image(6), "")
    assert result.status == ResultStatus.OFF and not result.usable


def test_captioning_imports_without_torch():
    code = (
        "import sys, inspector.captioning as c; c.create_captioner('blip2-opt-2.7b'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'open_clip')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_model_that_does_not_fit_is_refused_with_a_plain_message(monkeypatch):
    from inspector.backbones.runtime import Runtime
    from inspector.captioning import blip

    spec = get_spec("blip2-opt-2.7b")
    monkeypatch.setattr(blip, "available_memory_bytes", lambda runtime: 3 * 2**30)
    with pytest.raises(InspectorError, match=r"needs about 8\.3 GiB in bfloat16 on cpu, 3\.0 GiB are free"):
        blip.check_memory(spec, Runtime("cpu", "bfloat16"))
    blip.check_memory(get_spec("blip-base"), Runtime("cpu", "float32"))  # 1.1 GiB fits in 3
    captioner = create_captioner("blip2-opt-2.7b", device="cpu", dtype="bfloat16", random_weights=True)
    with pytest.raises(InspectorError, match="choose the light captioner 'blip-base'"):
        captioner.load()
    assert not captioner.loaded
