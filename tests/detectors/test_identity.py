"""Part identity: the wrong product on the line is WRONG PART (tiny CLIP, embeddings set so the case is known)."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.identity import (
    GENERIC_ALTERNATIVES,
    IdentitySettings,
    alternatives_for,
    calibrate_identity,
    decide_identity,
    with_calibration,
)
from inspector.core.registry import ModelSpec
from inspector.detectors.identity import PartIdentityCheck, leave_one_out_similarities
from tests.helpers import TINY_CLIP


@pytest.fixture(scope="module")
def tiny_clip():
    from inspector._torch import import_torch
    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime

    import_torch().manual_seed(0)
    return load_model(ModelSpec.from_dict(TINY_CLIP), make_runtime("cpu", "float32"), random_weights=True)


def test_alternatives_are_the_recipes_then_other_recipes_then_generic_without_the_object_itself():
    settings = IdentitySettings(alternatives=("Ball  Screw", "nut"))
    alts = alternatives_for("ball screw", settings, ("magnetic tile", "nut"))
    assert alts[:2] == ("nut", "magnetic tile") and "ball screw" not in [a.lower() for a in alts]
    assert alts[2:] == GENERIC_ALTERNATIVES
    assert "magnetic tile" not in alternatives_for(
        "ball screw", IdentitySettings(other_recipes=False), ("magnetic tile",)
    )


def test_calibration_and_decision_by_hand():
    cal = calibrate_identity([0.9, 0.6, 0.8], [0.95, 0.7, 0.9])
    assert cal.text_threshold == pytest.approx(0.3) and cal.reference_threshold == pytest.approx(0.65)
    settings = with_calibration(IdentitySettings(), cal)
    ok = decide_identity(
        settings, text_probability=0.31, best_alternative="nut", reference_similarity=0.66, object_name="x"
    )
    assert not ok.wrong_part and ok.reason == "" and ok.score == pytest.approx(0.31)
    bad = decide_identity(
        settings, text_probability=0.29, best_alternative="nut", reference_similarity=0.9, object_name="x"
    )
    assert bad.wrong_part and "nut" in bad.reason
    unlike = decide_identity(
        settings, text_probability=None, best_alternative=None, reference_similarity=0.6, object_name="x"
    )
    assert unlike.wrong_part and "unlike the good parts" in unlike.reason
    uncalibrated = decide_identity(
        IdentitySettings(), text_probability=0.0, best_alternative="nut", reference_similarity=-1, object_name="x"
    )
    assert not uncalibrated.wrong_part
    assert leave_one_out_similarities(np.eye(3)) == [0.0, 0.0, 0.0]  # never the self-match (1.0)
    with pytest.raises(ValueError, match="text_check"):
        IdentitySettings(text_check="sometimes")
    with pytest.raises(ValueError, match="finite"):
        IdentitySettings(text_threshold=float("nan"))
    assert IdentitySettings.from_dict(settings.to_dict()) == settings


def test_the_wrong_object_is_wrong_part_with_known_embeddings(tiny_clip):
    """Images whose CLIP embeddings are set to the text prototypes: a tile under a ball-screw recipe is caught."""
    check = PartIdentityCheck(IdentitySettings(), "ball screw", ("magnetic tile",), clip=tiny_clip)
    assert check.text_enabled  # auto: the CLIP model is shared
    prototypes = check._text_prototypes()  # the real tiny CLIP's text tower: row 0 = ball screw
    tile_row = 1 + check.alternatives.index("magnetic tile")
    rng = np.random.default_rng(0)

    def near(row):
        return prototypes[row] + 0.02 * rng.standard_normal(prototypes.shape[1])

    good = np.stack([near(0) for _ in range(4)])
    cal = check.calibrate([np.zeros((8, 8, 3), np.uint8)] * 4, good_embeddings=good, good_clip=good)
    assert cal.text_threshold is not None and cal.reference_threshold is not None
    check = PartIdentityCheck(
        with_calibration(IdentitySettings(), cal), "ball screw", ("magnetic tile",), clip=tiny_clip
    )
    check.set_references(good)
    image = np.zeros((8, 8, 3), np.uint8)
    screw = check.check(image, embedding=near(0), clip_embedding=near(0))
    tile = check.check(image, embedding=near(tile_row), clip_embedding=near(tile_row))
    assert not screw.wrong_part
    assert tile.wrong_part and tile.best_alternative == "magnetic tile" and "magnetic tile" in tile.reason
    assert tile.text_probability < screw.text_probability
    assert tile.reference_similarity < screw.reference_similarity


def test_text_check_runs_clips_own_forward_when_asked_and_is_off_by_default_without_a_shared_clip(tiny_clip):
    assert not PartIdentityCheck(IdentitySettings(), "ball screw").text_enabled
    check = PartIdentityCheck(IdentitySettings(text_check="on"), "ball screw", clip=None)
    check._clip = tiny_clip  # what load_model would give for the recipe's CLIP
    result = check.check(np.full((40, 50, 3), 120, np.uint8))
    assert result is not None and 0.0 <= result.text_probability <= 1.0 and result.best_alternative
    assert (
        PartIdentityCheck(IdentitySettings(enabled=False), "x", clip=tiny_clip).check(np.zeros((8, 8, 3), np.uint8))
        is None
    )
