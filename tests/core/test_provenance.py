"""A threshold is used only with the weights it was measured with (pure rules, no model)."""

import pytest

from inspector.core.provenance import CalibrationRefused, check_calibration, require_calibration
from inspector.core.recipe import Recipe
from inspector.core.types import DetectorInfo

REAL = "sha256:" + "a1" * 32
OTHER = "sha256:" + "b2" * 32


def _info(fingerprint=REAL, random_weights=False):
    return DetectorInfo(
        "anomalydino", "dinov2-small", "cpu", "float32", random_weights=random_weights, fingerprint=fingerprint
    )


def _recipe(**calibration):
    return Recipe(name="bracket", detector="anomalydino", threshold=0.3, calibration=calibration)


def test_a_threshold_from_random_weights_is_refused_for_a_real_run():
    recipe = _recipe(threshold=0.3, model="dinov2-small", random_weights=True, model_fingerprint="random:0")
    with pytest.raises(CalibrationRefused) as caught:
        require_calibration(recipe, _info(), "recipes/bracket.json")
    message = str(caught.value)
    assert "RANDOM WEIGHTS" in message and "recalibrate: `inspector recipe calibrate recipes/bracket.json`" in message
    assert "a1a1a1a1a1a1" in message  # the weights loaded now, short form
    assert caught.value.exit_code == 2


def test_other_weights_and_unrecorded_weights_are_refused_the_same_ones_pass():
    other = _recipe(threshold=0.3, model="dinov2-small", random_weights=False, model_fingerprint=OTHER)
    refusal = check_calibration(other, _info()).refusal
    assert refusal and "other weights" in refusal and "b2b2b2b2b2b2" in refusal and "a1a1a1a1a1a1" in refusal
    unrecorded = _recipe(threshold=0.3, model="dinov2-small", random_weights=False)
    assert "before the station recorded" in check_calibration(unrecorded, _info()).refusal
    same = _recipe(threshold=0.3, model="dinov2-small", random_weights=False, model_fingerprint=REAL)
    assert (
        check_calibration(same, _info()) == check_calibration(same, _info(REAL))
        and not check_calibration(same, _info()).refusal
    )
    assert require_calibration(same, _info()) is None


def test_a_random_weights_run_is_never_refused():
    for recipe in (_recipe(threshold=0.3, random_weights=False, model_fingerprint=OTHER), _recipe(threshold=0.3)):
        assert check_calibration(recipe, _info("random:0", random_weights=True)).refusal is None


def test_an_uncalibrated_recipe_warns_and_is_not_refused():
    check = check_calibration(_recipe(), _info(), "r.json")
    assert check.refusal is None
    assert "not calibrated" in check.warning and "0.3" in check.warning
    assert "`inspector recipe calibrate r.json`" in check.warning
    assert require_calibration(_recipe(), _info()) == check_calibration(_recipe(), _info()).warning


def test_a_trained_version_that_failed_its_gate_is_refused_except_for_a_random_weights_run():
    from dataclasses import replace

    calibrated = _recipe(threshold=0.3, model="dinov2-small", random_weights=False, model_fingerprint=REAL)
    failed = replace(calibrated, training={"gate": {"passed": False, "reasons": ["I-AUROC 60.0 < 90.0"]}})
    refusal = check_calibration(failed, _info()).refusal
    assert refusal and "did not pass its training gate (I-AUROC 60.0 < 90.0)" in refusal
    assert check_calibration(failed, _info("random:0", random_weights=True)).refusal is None
    passed = replace(calibrated, training={"gate": {"passed": True, "reasons": []}})
    assert check_calibration(passed, _info()) == check_calibration(calibrated, _info())
