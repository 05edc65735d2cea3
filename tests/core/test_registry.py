import json

import pytest

from inspector.core.registry import get_spec, import_weights, load_registry
from inspector.errors import InspectorError, WeightsInvalidError, WeightsMissingError

REQUIRED = {
    "clip-vit-b-16-plus-240": ("open_clip", "ViT-B-16-plus-240", "laion400m_e31"),
    "clip-vit-b-16": ("open_clip", "ViT-B-16", "laion2b_s34b_b88k"),
    "clip-vit-l-14-336": ("open_clip", "ViT-L-14-336", "openai"),
    "dinov2-small": ("transformers", "Dinov2Model", ""),
    "dinov2-base": ("transformers", "Dinov2Model", ""),
    "blip2-opt-2.7b": ("transformers", "Blip2ForConditionalGeneration", ""),
    "blip-base": ("transformers", "BlipForConditionalGeneration", ""),
}


def test_registry_has_the_design_cards_models():
    specs = load_registry()
    for model_id, (backend, arch, pretrained) in REQUIRED.items():
        spec = specs[model_id]
        assert (spec.backend, spec.architecture, spec.pretrained) == (backend, arch, pretrained)
        assert spec.hub_id and spec.size_mb > 0 and spec.input_size > 0
        assert set(spec.dtype) >= {"cpu", "cuda"}


def test_weights_are_missing_on_a_fresh_station_and_the_message_says_how_to_get_them():
    spec = get_spec("dinov2-small")
    assert not spec.has_weights()
    message = str(spec.missing_weights_error())
    for part in (
        "dinov2-small",
        "88 MB",
        "inspector models download dinov2-small",
        "inspector models import PATH --model dinov2-small",
        "facebook/dinov2-small",
    ):
        assert part in message
    assert isinstance(spec.missing_weights_error(), WeightsMissingError)


def _empty_safetensors(path):
    """A whole safetensors file without tensors (the core's own checks only look at completeness)."""
    path.write_bytes((2).to_bytes(8, "little") + b"{}")
    return path


def test_import_open_clip_weights_file(tmp_path):
    weights = _empty_safetensors(tmp_path / "open_clip_model.safetensors")
    target = import_weights(weights, "clip-vit-b-16")
    spec = get_spec("clip-vit-b-16")
    assert spec.has_weights()
    assert spec.weights_location() == target / "open_clip_model.safetensors"


def test_import_transformers_folder_and_refuse_incomplete_ones(tmp_path):
    folder = tmp_path / "dino"
    folder.mkdir()
    with pytest.raises(InspectorError, match="config.json"):
        import_weights(folder, "dinov2-small")
    (folder / "config.json").write_text("{}")
    with pytest.raises(InspectorError, match="no weight files"):
        import_weights(folder, "dinov2-small")
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(WeightsInvalidError, match="model.safetensors is empty"):
        import_weights(folder, "dinov2-small")
    (folder / "model.safetensors").write_bytes((100).to_bytes(8, "little") + b"{}")
    with pytest.raises(WeightsInvalidError, match="truncated"):
        import_weights(folder, "dinov2-small")
    assert not get_spec("dinov2-small").has_weights()
    _empty_safetensors(folder / "model.safetensors")
    import_weights(folder, "dinov2-small")
    assert get_spec("dinov2-small").weights_location().name == "dinov2-small"


def test_import_rejects_unknown_model_and_missing_path(tmp_path):
    with pytest.raises(InspectorError, match="Unknown model"):
        import_weights(tmp_path, "no-such-model")
    with pytest.raises(InspectorError, match="does not exist"):
        import_weights(tmp_path / "nothing", "clip-vit-b-16")


def test_registry_file_from_a_newer_station_is_refused(tmp_path):
    (tmp_path / "m.json").write_text(
        json.dumps({"schema": 99, "id": "m", "role": "clip", "backend": "open_clip", "architecture": "x"})
    )
    with pytest.raises(InspectorError, match="schema 99"):
        load_registry(tmp_path)
