"""Recalibration from reviewed parts: labels from a real store, the CLI, the new recipe version."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inspector.cli import main
from inspector.core.recipe import Recipe, load_recipe, save_recipe
from inspector.recalibration import apply_recalibration, gather_reviews, recalibrate_from_reviews
from inspector.store import NewInspection, Verdict, open_store
from inspector.store.labels import reviewed_labels

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _part(i: int, version_id: str, score: float, recipe: Recipe, fingerprint: str = "sha256:" + "a" * 64):
    return NewInspection(
        content_hash=hashlib.sha256(f"part-{i}".encode()).hexdigest(),
        recipe_version_id=version_id,
        score=float(score),
        threshold=recipe.threshold,
        verdict=recipe.verdict(score),
        detector="winclip",
        model_id="clip",
        inspected_at=T0 + timedelta(seconds=i),
        model_fingerprint=fingerprint,
    )


def _labelled_store(path, recipe: Recipe, good, bad):
    """A store whose parts an operator reviewed: ``good`` confirmed PASS, ``bad`` confirmed FAIL."""
    store = open_store(path)
    version = store.save_recipe_version(recipe.name, recipe.to_dict())
    scores = list(good) + list(bad)
    ids = store.add_inspections([_part(i, version.id, s, recipe) for i, s in enumerate(scores)]).ids
    for i, part_id in enumerate(ids):
        store.add_override(part_id, "ana", Verdict.PASS if i < len(good) else Verdict.FAIL)
    return store, version


@pytest.fixture
def recipe_file(tmp_path):
    recipe = Recipe(name="bracket", object_name="bracket", detector="winclip", threshold=0.55)
    path = tmp_path / "bracket.json"
    save_recipe(recipe, path)
    return path


def test_threshold_from_a_store_of_known_labels_is_the_hand_computed_one(tmp_path, recipe_file):
    rng = np.random.default_rng(3)
    bad, good = rng.uniform(0.5, 1.0, 100), rng.uniform(0.0, 0.6, 200)
    recipe = load_recipe(recipe_file)
    store, _version = _labelled_store(tmp_path / "db.sqlite", recipe, good, bad)
    with store:
        rec = recalibrate_from_reviews(store, recipe, target_escape=0.05)
        assert rec.refusal is None and rec.proposal is not None
        # hand computation (see tests/core/test_review_stats.py): one escape of 100 allowed at 5 % / 95 %,
        # so the pass limit is the second-lowest reviewed defective score
        assert rec.proposal.limits.threshold == float(np.sort(bad)[1])
        assert (len(rec.reviews.good), len(rec.reviews.defective)) == (200, 100)
        new, version = apply_recalibration(store, rec, recipe_file)
        assert version.version == 2
        saved = load_recipe(recipe_file)
        assert saved.threshold == float(np.sort(bad)[1]) and saved.uncertain_band == new.uncertain_band
        info = saved.calibration["from_reviews"]
        assert (info["n_good"], info["n_defective"], info["escape"]["k"]) == (200, 100, 1)
        assert info["escape"]["upper"] <= 0.05 and saved.calibration["model_fingerprint"] == "sha256:" + "a" * 64
        # the new version scores parts the same way: its labels are those of version 1, still counted
        assert len(gather_reviews(store, saved).labels) == 300


def test_only_standing_pass_or_fail_decisions_are_labels(tmp_path, recipe_file):
    recipe = load_recipe(recipe_file)
    with open_store(tmp_path / "db.sqlite") as store:
        v = store.save_recipe_version(recipe.name, recipe.to_dict())
        ids = store.add_inspections([_part(i, v.id, 0.1 * i, recipe) for i in range(6)]).ids
        other = store.add_inspections([_part(9, v.id, 0.9, recipe, fingerprint="sha256:" + "b" * 64)]).ids
        store.add_override(ids[0], "ana", Verdict.PASS)  # good
        store.add_override(ids[1], "ana", Verdict.FAIL)  # defective
        store.add_override(ids[2], "ana", Verdict.FAIL)
        store.undo_last_override(ids[2], "ana")  # taken back: no label
        store.add_override(ids[3], "ana", Verdict.UNCERTAIN)  # left undecided: no label
        store.add_override(ids[4], "ana", Verdict.PASS)
        store.add_override(ids[4], "bo", Verdict.FAIL)
        store.undo_last_override(ids[4], "bo")  # back to ana's PASS: a good part
        store.add_override(other[0], "ana", Verdict.FAIL)  # other weights
        labels = {x.inspection_id: x.defective for x in reviewed_labels(store, [v.id])}
        assert labels == {ids[0]: False, ids[1]: True, ids[4]: False, other[0]: True}
        reviews = gather_reviews(store, recipe)
        assert (reviews.good, reviews.defective, reviews.other_weights) == ((0.0, 0.4), (0.1,), 1)


def test_cli_refuses_with_too_few_reviewed_defects_and_changes_nothing(tmp_path, recipe_file, capsys):
    recipe = load_recipe(recipe_file)
    store, _ = _labelled_store(tmp_path / "db.sqlite", recipe, np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 20))
    store.close()
    before = recipe_file.read_text()
    code = main(["recipe", "recalibrate", str(recipe_file), "--from-reviews", "--db", str(tmp_path / "db.sqlite")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "2,975 more reviewed defective parts are needed" in err and "not changed" in err
    assert "50 reviewed good and 20 reviewed defective" in out and "escape rate" in out
    assert recipe_file.read_text() == before


def test_cli_writes_a_new_version_for_a_target_the_data_support(tmp_path, recipe_file, capsys):
    recipe = load_recipe(recipe_file)
    good, bad = np.linspace(0.0, 0.5, 300), np.linspace(0.45, 1.0, 30)
    store, _ = _labelled_store(tmp_path / "db.sqlite", recipe, good, bad)
    store.close()
    db = str(tmp_path / "db.sqlite")
    args = ["recipe", "recalibrate", str(recipe_file), "--from-reviews", "--target-false-reject", "0.01", "--db", db]
    assert main([*args, "--dry-run"]) == 0
    assert load_recipe(recipe_file).threshold == 0.55
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "version 2" in out and "target false-reject rate" in out
    saved = json.loads(recipe_file.read_text())
    assert saved["threshold"] == float(np.nextafter(0.5, 1.0)) and saved["uncertain_band"] == [0.45, saved["threshold"]]
    assert saved["calibration"]["from_reviews"]["target_kind"] == "false_reject"
    with open_store(db) as store:
        assert [v.version for v in store.recipe_versions("bracket")] == [1, 2]


def test_only_good_parts_reviewed_writes_the_fallback_and_says_so(tmp_path, recipe_file, capsys):
    recipe = load_recipe(recipe_file)
    store, _ = _labelled_store(tmp_path / "db.sqlite", recipe, np.random.default_rng(1).normal(0.3, 0.05, 30), [])
    store.close()
    code = main(["recipe", "recalibrate", str(recipe_file), "--from-reviews", "--db", str(tmp_path / "db.sqlite")])
    out = capsys.readouterr().out
    assert code == 0 and "FALLBACK" in out
    assert load_recipe(recipe_file).calibration["from_reviews"]["fallback"] is True
