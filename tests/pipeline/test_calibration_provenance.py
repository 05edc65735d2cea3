"""``inspector run`` refuses a threshold measured with other weights; an uncalibrated recipe warns."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.core.provenance import CalibrationRefused
from inspector.core.recipe import Recipe, load_recipe, save_recipe
from inspector.detectors.factory import detector_for_recipe
from inspector.pipeline import InspectionPipeline
from inspector.sources import make_source
from inspector.store import open_store
from tests.helpers import write_parts, write_reference


@pytest.fixture
def setup(tmp_path, saved_dinov2_small):
    parts = tmp_path / "parts"
    write_parts(parts, 2)
    refs = [str(write_reference(tmp_path / f"ref{i}.png", size=(96 + 8 * i, 80))) for i in range(2)]
    recipe = tmp_path / "recipe.json"
    save_recipe(
        Recipe(
            name="bracket",
            detector="anomalydino",
            model="dinov2-small",
            references=tuple(refs),
            detector_params={"resolution": 112},
        ),
        recipe,
    )
    assert main(["models", "import", str(saved_dinov2_small), "--model", "dinov2-small"]) == 0
    return recipe, parts, tmp_path / "inspector.db"


def _run(recipe, parts, db, *extra):
    return main(
        ["run", "--recipe", str(recipe), "--source", str(parts), "--db", str(db), "--device", "cpu", "-q", *extra]
    )


def test_run_refuses_a_random_weights_threshold_until_recalibrated(setup, capsys):
    recipe, parts, db = setup
    assert _run(recipe, parts, db) in (0, 1)  # uncalibrated: runs, and says so
    err = capsys.readouterr().err
    assert "warning" in err and "not calibrated" in err and f"inspector recipe calibrate {recipe}" in err

    assert main(["recipe", "calibrate", str(recipe), "--random-weights", "--device", "cpu"]) == 0
    calibration = json.loads(recipe.read_text())["calibration"]
    assert calibration["random_weights"] is True and calibration["model_fingerprint"] == "random:0"
    capsys.readouterr()
    with open_store(db) as store:
        before = store.count()
    assert _run(recipe, parts, db) == 2
    err = capsys.readouterr().err
    assert "RANDOM WEIGHTS" in err and f"recalibrate: `inspector recipe calibrate {recipe}`" in err
    assert "Traceback" not in err
    with open_store(db) as store:
        assert store.count() == before  # nothing scored
    assert _run(recipe, parts, db, "--random-weights") in (0, 1)  # a random run may use it

    assert main(["recipe", "calibrate", str(recipe), "--device", "cpu"]) == 0
    calibration = json.loads(recipe.read_text())["calibration"]
    assert calibration["random_weights"] is False and calibration["model_fingerprint"].startswith("sha256:")
    capsys.readouterr()
    assert _run(recipe, parts, db) in (0, 1)
    assert "warning" not in capsys.readouterr().err


def test_the_pipeline_itself_refuses_other_weights_for_every_front_end(setup):
    recipe_path, parts, db = setup
    recipe = load_recipe(recipe_path)
    foreign = recipe.with_threshold(
        0.3,
        None,
        {"threshold": 0.3, "model": "dinov2-small", "random_weights": False, "model_fingerprint": "sha256:" + "0" * 64},
    )
    detector = detector_for_recipe(foreign, device="cpu")
    with open_store(db) as store:
        pipeline = InspectionPipeline(foreign, detector, store, make_source(str(parts)))
        with pytest.raises(CalibrationRefused, match="other weights"):
            pipeline.run()
        assert store.count() == 0 and store.runs() == []


def test_a_trained_version_that_failed_its_gate_is_not_run(setup, capsys):
    recipe_path, parts, db = setup
    assert main(["recipe", "calibrate", str(recipe_path), "--device", "cpu"]) == 0
    recipe = load_recipe(recipe_path)
    failed = Path(recipe_path).with_name("trained.json")
    gate = {"passed": False, "reasons": ["held-out I-AUROC 71.0 < current 88.0 - 2.0"], "tolerance": 0.02}
    save_recipe(replace(recipe, training={"method": "memory", "gate": gate}), failed)
    capsys.readouterr()
    assert _run(failed, parts, db) == 2
    err = capsys.readouterr().err
    assert "did not pass its training gate (held-out I-AUROC 71.0 < current 88.0 - 2.0)" in err
    assert "Traceback" not in err
    with open_store(db) as store:
        assert store.count() == 0  # nothing scored
    passed = replace(recipe, training={"method": "memory", "gate": {**gate, "passed": True}})
    save_recipe(passed, failed)
    assert _run(failed, parts, db) in (0, 1)
