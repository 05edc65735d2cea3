import json

import pytest

from inspector.core.recipe import RECIPE_FORMAT_VERSION, Recipe, Verdict, load_recipe, save_recipe
from inspector.errors import RecipeError


def test_round_trip_keeps_everything_and_resolves_reference_paths(tmp_path):
    (tmp_path / "refs").mkdir()
    recipe = Recipe(
        name="Ball screw",
        object_name="ball screw",
        detector="anomalydino",
        references=("refs/a.png", "refs/b.png"),
        defect_classes=("pitting", "scratch"),
        threshold=0.3,
        uncertain_band=(0.25, 0.35),
        detector_params={"resolution": 448},
    )
    path = tmp_path / "r.json"
    save_recipe(recipe, path)
    loaded = load_recipe(path)
    assert loaded.threshold == 0.3 and loaded.uncertain_band == (0.25, 0.35)
    assert loaded.defect_classes == ("pitting", "scratch")
    assert loaded.detector_params == {"resolution": 448}
    assert loaded.references == (str(tmp_path / "refs/a.png"), str(tmp_path / "refs/b.png"))
    assert loaded.model_id == "dinov2-small"
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("score", "verdict"),
    [(0.1, Verdict.PASS), (0.25, Verdict.UNCERTAIN), (0.3, Verdict.UNCERTAIN), (0.35, Verdict.FAIL)],
)
def test_verdict_with_uncertain_band(score, verdict):
    recipe = Recipe(name="r", threshold=0.3, uncertain_band=(0.25, 0.35))
    assert recipe.verdict(score) is verdict


def test_verdict_without_band_uses_threshold():
    recipe = Recipe(name="r", threshold=0.3)
    assert recipe.verdict(0.2999) is Verdict.PASS
    assert recipe.verdict(0.3) is Verdict.FAIL


def test_recipe_from_newer_station_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.json"
    body = Recipe(name="r").to_dict()
    body["format_version"] = RECIPE_FORMAT_VERSION + 1
    path.write_text(json.dumps(body))
    before = path.read_bytes()
    with pytest.raises(RecipeError, match="newer Inspector"):
        load_recipe(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"format": "other"}), ""])
def test_unreadable_recipe_gives_clear_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RecipeError, match=str(path.name)):
        load_recipe(path)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.json")


def test_invalid_band_and_detector_are_refused():
    with pytest.raises(RecipeError, match="must contain the threshold"):
        Recipe(name="r", threshold=0.5, uncertain_band=(0.1, 0.2))
    with pytest.raises(RecipeError, match="unknown detector"):
        Recipe(name="r", detector="magic")


def test_band_of_body_reads_any_mapping():
    """A stored body is typed Mapping (RecipeVersionRecord.body); a read-only one kept its band too.

    Found by mypy (reports passed Mapping where band_of_body took dict): it returned None for any
    mapping that was not a dict, so a report or export would lose the recipe's uncertain band.
    """
    from types import MappingProxyType

    from inspector.core.recipe import band_of_body

    body = {"uncertain_band": [0.4, 0.6]}
    assert band_of_body(body) == (0.4, 0.6)
    assert band_of_body(MappingProxyType(body)) == (0.4, 0.6)
    assert band_of_body({"uncertain_band": "x"}) is None
