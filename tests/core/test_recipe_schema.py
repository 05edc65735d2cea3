"""Every bad recipe field of the red-team pass gets one plain message naming the field and the value."""

from __future__ import annotations

import json

import pytest

from inspector.core.recipe import Recipe, load_recipe
from inspector.core.recipe_schema import MAX_REFERENCES
from inspector.errors import RecipeError


def _write(tmp_path, **fields):
    body = {"format": "inspector-recipe", "format_version": 1, "name": "bracket", **fields}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(body, allow_nan=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"threshold": "high"}, "threshold: must be a number (got 'high')"),
        ({"threshold": None}, "threshold: must be a number (got None)"),
        ({"threshold": float("nan")}, "threshold: must be a finite number (got nan)"),
        ({"threshold": float("inf")}, "threshold: must be a finite number (got inf)"),
        ({"name": 123}, "name: must be text (got 123)"),
        ({"uncertain_band": "0.1-0.9"}, "uncertain_band: must be a list [low, high] (got '0.1-0.9')"),
        ({"uncertain_band": [0.9, 0.1]}, "uncertain_band: must be [low, high] with low <= high"),
        ({"references": "good.png"}, "references: must be a list (got 'good.png')"),
        ({"detector": "anomalydino", "detector_params": {"resolution": 14000}}, "detector_params.resolution"),
        ({"detector": "anomalydino", "detector_params": {"masking": "yes"}}, "detector_params.masking"),
        ({"detector": "anomalydino", "detector_params": {"colour": 1}}, "detector_params.colour: is not a field"),
        ({"detector": "winclip", "detector_params": {"scales": 2}}, "detector_params.scales: must be a list"),
        (
            {"detector": "yolo"},
            "detector: Input should be 'winclip', 'winclip+', 'anomalydino', 'memory', 'simplenet', 'promptad' "
            "or 'student' (got 'yolo')",
        ),
        ({"colour": "red"}, "colour: is not a field this station knows (value 'red')"),
        # the trained detectors' options (inspector train writes them; an engineer may edit them)
        ({"detector": "memory", "detector_params": {"coreset_ratio": 2}}, "detector_params.coreset_ratio"),
        ({"detector": "memory", "detector_params": {"coreset_ratio": "all"}}, "coreset_ratio: must be a number"),
        ({"detector": "memory", "detector_params": {"resolution": 14000}}, "detector_params.resolution"),
        ({"detector": "simplenet", "detector_params": {"noise_std": 0}}, "detector_params.noise_std"),
        ({"detector": "simplenet", "detector_params": {"layers": [0]}}, "detector_params.layers.0"),
        ({"detector": "simplenet", "detector_params": {"epochs": 2.5}}, "epochs: must be a whole number (got 2.5)"),
        ({"detector": "promptad", "detector_params": {"n_ctx": 0}}, "detector_params.n_ctx"),
        ({"detector": "promptad", "detector_params": {"momentum": 1.0}}, "detector_params.momentum"),
        ({"detector": "promptad", "detector_params": {"fusion": "max"}}, "detector_params.fusion"),
        ({"detector": "student", "detector_params": {"input_size": 100}}, "detector_params.input_size"),
        ({"detector": "student", "detector_params": {"teacher": "x"}}, "detector_params.teacher: is not a field"),
        (
            {"detector": "student", "detector_params": {"artifact_sha256": "abc"}},
            "detector_params.artifact_sha256: String should match pattern",
        ),
        ({"detector": "memory", "detector_params": {"artifact": 3}}, "detector_params.artifact: must be text"),
    ],
)
def test_each_bad_field_is_named_with_its_value(tmp_path, fields, expected):
    with pytest.raises(RecipeError) as caught:
        load_recipe(_write(tmp_path, **fields))
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_every_bad_field_is_reported_at_once(tmp_path):
    path = _write(tmp_path, name=123, threshold="high", detector="anomalydino", detector_params={"resolution": "big"})
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    lines = [line for line in str(caught.value).splitlines() if line.strip().startswith("- ")]
    assert len(lines) == 3, caught.value
    assert {"name", "threshold", "detector_params.resolution"} == {line.split(":")[0].strip("- ") for line in lines}


def test_trained_options_as_inspector_train_writes_them_load(tmp_path):
    sha = "ab" * 32
    params = {"coreset_ratio": 0.05, "projection_dim": 0, "seed": 3, "resolution": 224, "masking": False,
              "top_fraction": 0.01, "sigma": 4.0, "augment_rotations": False, "artifact": "trained/ab/x.safetensors",
              "artifact_sha256": sha}  # fmt: skip
    recipe = load_recipe(_write(tmp_path, detector="memory", detector_params=params))
    assert recipe.detector_params["coreset_ratio"] == 0.05 and recipe.detector_params["artifact_sha256"] == sha
    layers = load_recipe(_write(tmp_path, detector="simplenet", detector_params={"layers": [6, 9]}))
    assert layers.detector_params == {"layers": [6, 9]}  # only what the file gives: defaults stay the detector's


def test_train_set_values_are_checked_like_the_recipe_file():
    from inspector.core.recipe_schema import validate_detector_params

    assert validate_detector_params("promptad", {"epochs": 5}, "--set") == {"epochs": 5}
    with pytest.raises(RecipeError) as caught:
        validate_detector_params("promptad", {"epochs": 0, "colour": 1}, "--set")
    text = str(caught.value)
    assert "--set: bad promptad option(s)" in text and "epochs: Input should be greater than or equal to 1" in text
    assert "colour: is not a field this station knows" in text


def test_format_version_true_is_not_a_version(tmp_path):
    path = _write(tmp_path)
    body = json.loads(path.read_text())
    body["format_version"] = True
    path.write_text(json.dumps(body))
    with pytest.raises(RecipeError, match="format_version must be a whole number >= 1 \\(got True\\)"):
        load_recipe(path)


def test_too_many_references_is_refused_before_anything_loads(tmp_path):
    path = _write(tmp_path, detector="anomalydino", references=[f"good/{i}.png" for i in range(10_000)])
    with pytest.raises(RecipeError, match=f"references: has 10000 entries, at most {MAX_REFERENCES} allowed"):
        load_recipe(path)


def test_a_good_recipe_still_loads_with_its_detector_options(tmp_path):
    path = _write(
        tmp_path, detector="anomalydino", threshold=1, uncertain_band=[0.5, 2], detector_params={"resolution": 56}
    )
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe) and recipe.threshold == 1.0 and recipe.uncertain_band == (0.5, 2.0)
    assert recipe.detector_params == {"resolution": 56}  # only what the file set: defaults stay the detector's


def test_identity_block_is_validated_and_round_trips_and_the_default_keeps_the_old_body():
    from inspector.core.identity import IdentitySettings
    from inspector.core.recipe import Recipe

    base = {"format": "inspector-recipe", "format_version": 1, "name": "r"}
    plain = Recipe.from_dict(base)
    assert plain.identity == IdentitySettings() and "identity" not in plain.to_dict()
    body = {**base, "identity": {"text_check": "on", "alternatives": ["nut"], "text_threshold": 0.2}}
    recipe = Recipe.from_dict(body)
    assert recipe.identity.text_check == "on" and recipe.identity.alternatives == ("nut",)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({**base, "identity": {"text_check": "sometimes", "text_threshold": 7, "colour": 1}})
    message = str(info.value)
    assert "identity.text_check" in message and "identity.text_threshold" in message and "identity.colour" in message


def test_a_recipe_selects_a_captioner_version_relative_to_its_file(tmp_path):
    import json

    from inspector.core.recipe import Recipe, load_recipe, save_recipe

    path = tmp_path / "bracket.json"
    save_recipe(Recipe(name="bracket", captioner_version="captioners/blip-base-lora-0123456789ab"), path)
    assert json.loads(path.read_text())["captioner_version"] == "captioners/blip-base-lora-0123456789ab"
    assert load_recipe(path).captioner_version == str(tmp_path / "captioners" / "blip-base-lora-0123456789ab")
    save_recipe(Recipe(name="plain"), tmp_path / "plain.json")
    assert "captioner_version" not in json.loads((tmp_path / "plain.json").read_text())  # same body as before
    body = json.loads(path.read_text())
    body["captioner_version"] = ["not", "a", "path"]
    with pytest.raises(RecipeError, match="captioner_version: must be text"):
        Recipe.from_dict(body)


def test_video_sampling_rate_is_a_checked_recipe_setting(tmp_path):
    from inspector.core.recipe import save_recipe

    save_recipe(Recipe(name="plain"), tmp_path / "plain.json")
    assert "video_sample_fps" not in json.loads((tmp_path / "plain.json").read_text())  # same body as before
    save_recipe(Recipe(name="line", video_sample_fps=5.0), tmp_path / "line.json")
    assert load_recipe(tmp_path / "line.json").video_sample_fps == 5.0
    body = json.loads((tmp_path / "line.json").read_text())
    for bad in (-1.0, "5", 5000.0):
        with pytest.raises(RecipeError, match="video_sample_fps"):
            Recipe.from_dict({**body, "video_sample_fps": bad})
