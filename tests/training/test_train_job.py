"""``inspector train`` end to end: new recipe version, artefact fingerprint, reload, cancel, library."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from PIL import Image

from inspector.cli import main
from inspector.core.images import load_image
from inspector.core.progress import Cancelled, ProgressState
from inspector.core.recipe import Recipe, load_recipe, save_recipe
from inspector.detectors.factory import detector_for_recipe
from inspector.errors import InspectorError
from inspector.training.job import train_recipe
from inspector.training.library import Library, PartOrigin, build_library
from tests.helpers import TINY_CLIP, TINY_DINO
from tests.training.helpers import tile_images


@pytest.fixture
def registry(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-dino.json").write_text(json.dumps(TINY_DINO))
    clip = copy.deepcopy(TINY_CLIP)
    clip["config"]["vision_cfg"]["image_size"] = 112
    clip["input_size"] = 112
    (folder / "tiny-clip.json").write_text(json.dumps(clip))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def parts(tmp_path):
    folder = tmp_path / "good"
    folder.mkdir()
    paths = []
    for i, image in enumerate(tile_images(14)):
        path = folder / f"tile_{i:02d}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def _recipe(tmp_path, parts, detector="anomalydino", model="tiny-dino") -> tuple[Recipe, object]:
    recipe = Recipe(
        name="tile", object_name="tile", detector=detector, model=model, references=tuple(str(p) for p in parts[:2])
    )
    path = tmp_path / "tile.json"
    save_recipe(recipe, path)
    return load_recipe(path), path


def _library(recipe, parts) -> Library:
    return build_library(recipe, None, folders=[parts[0].parent])


@pytest.mark.parametrize(
    "method,params",
    [
        ("memory", {"resolution": 56, "coreset_ratio": 0.5}),
        ("simplenet", {"resolution": 56, "embed_dim": 32, "dsc_hidden": 32, "epochs": 3}),
        ("promptad", {"epochs": 3}),
        ("student", {"input_size": 64, "width": 8, "epochs": 3}),
    ],
)
def test_trained_recipe_version_reloads_and_scores_the_same(tmp_path, registry, parts, method, params):
    model = "tiny-clip" if method in ("promptad", "student") else "tiny-dino"
    recipe, path = _recipe(tmp_path, parts, "winclip+" if model == "tiny-clip" else "anomalydino", model)
    out = tmp_path / "tile.v2.json"
    outcome = train_recipe(
        recipe,
        method,
        _library(recipe, parts),
        out,
        params=params,
        device="cpu",
        dtype="float32",
        random_weights=True,
        before=False,
    )
    assert out.is_file() and outcome.artifact.path.is_file()
    again = load_recipe(out)
    assert again.detector == method and again.training["random_weights"] is True
    assert again.detector_params["artifact_sha256"] == outcome.artifact.sha256
    assert again.training["data"]["library"] == {"reference": 2, "folder": 12}
    held = [p["sha256"] for p in again.training["data"]["held_out"]]
    assert len(held) >= 2 and not set(held) & {p["sha256"] for p in again.training["data"]["train"]}
    assert again.training["after"] is not None and again.threshold == pytest.approx(outcome.recipe.threshold)
    if method == "student":
        for key in ("map_pearson", "score_spearman", "verdict_agreement"):
            assert -1.0 <= again.training["agreement"][key] <= 1.0
    # reload: the same scores on the held-out good parts as measured right after training
    detector = detector_for_recipe(again, device="cpu", dtype="float32", random_weights=True)
    assert not detector.needs_references
    assert detector.info.fingerprint.endswith(f"trained:{outcome.artifact.sha256}")  # recorded with every verdict
    if method != "student":
        assert detector.info.fingerprint.startswith("random:")  # and the backbone's weights
    from inspector.training.job import split_library

    _, held_parts = split_library(_library(recipe, parts), 0.2, 0)
    scores = [p.score for p in detector.predict([load_image(p.path) for p in held_parts])]
    np.testing.assert_allclose(scores, outcome.after.good_scores, rtol=1e-4, atol=1e-6)
    # and never silently with real weights: the random-weights artefact is refused without the flag
    with pytest.raises(InspectorError, match="RANDOM WEIGHTS"):
        detector_for_recipe(again, device="cpu", dtype="float32", random_weights=False)


def test_a_changed_artefact_is_refused(tmp_path, registry, parts):
    recipe, _ = _recipe(tmp_path, parts)
    out = tmp_path / "tile.v2.json"
    outcome = train_recipe(
        recipe,
        "memory",
        _library(recipe, parts),
        out,
        params={"resolution": 56},
        device="cpu",
        dtype="float32",
        random_weights=True,
        before=False,
    )
    data = bytearray(outcome.artifact.path.read_bytes())
    data[-1] ^= 0xFF
    outcome.artifact.path.write_bytes(bytes(data))
    with pytest.raises(InspectorError, match="fingerprint"):
        detector_for_recipe(load_recipe(out), device="cpu", dtype="float32", random_weights=True)


def test_cancel_leaves_no_half_written_version(tmp_path, registry, parts):
    recipe, _ = _recipe(tmp_path, parts)
    out = tmp_path / "tile.v2.json"
    seen = []

    def on_progress(done, total, message):
        seen.append(message)
        if message.startswith("epoch 2/"):
            progress.cancel()

    progress = ProgressState(on_progress)
    params = {"resolution": 56, "embed_dim": 32, "dsc_hidden": 32, "epochs": 20}
    with pytest.raises(Cancelled):
        train_recipe(recipe, "simplenet", _library(recipe, parts), out, params=params, device="cpu", dtype="float32",
                     random_weights=True, before=False, progress=progress)  # fmt: skip
    assert any(m.startswith("epoch 2/") for m in seen) and not any(m.startswith("epoch 3/") for m in seen)
    assert not out.exists()
    assert not (tmp_path / "trained").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "models", "tile.json"]


def test_train_cli_writes_a_new_version_and_eval_compares_versions(tmp_path, registry, parts, capsys):
    recipe, path = _recipe(tmp_path, parts)
    args = ["--set", "resolution=56", "--random-weights", "--device", "cpu", "--dtype", "float32", "-q"]
    code = main(["train", str(path), "--method", "memory", "--images", str(parts[0].parent), "--no-store", *args])
    assert code == 0
    text = capsys.readouterr().out
    assert "new recipe version" in text and "RANDOM WEIGHTS" in text and "before held-out" in text
    out = tmp_path / "tile.memory.json"
    assert load_recipe(out).detector == "memory"
    assert load_recipe(path).detector == "anomalydino"  # the old version is untouched
    code = main(["train", str(path), "--method", "memory", "--no-store", "--random-weights", "--device", "cpu",
                 "--set", "resolution=56", "-q", "--out", str(out)])  # fmt: skip
    assert code == 2  # never overwrites a recipe
    assert "exists already" in capsys.readouterr().err
    code = main(["train", str(path), "--method", "memory", "--no-store", "--random-weights", "--device", "cpu",
                 "--set", "coreset_ratio=2", "-q"])  # fmt: skip
    assert code == 2  # a bad option is named before anything is trained
    assert "coreset_ratio: Input should be less than or equal to 1 (got 2)" in capsys.readouterr().err
    # eval compares the two versions, each as it inspects
    from tests.helpers import make_tiny_dataset

    dataset = make_tiny_dataset(tmp_path / "data" / "widget")
    report = tmp_path / "compare.json"
    code = main(["eval", str(dataset), "--recipe", str(path), "--recipe", str(out), "--random-weights",
                 "--device", "cpu", "-q", "--json", str(report)])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "recipe versions compared" in text and "tile.memory.json" in text and "anomalydino" in text
    body = json.loads(report.read_text())
    assert [b["report"]["detector"] for b in body] == ["anomalydino", "memory"]
    assert all(b["report"]["categories"][0]["n_test"] == 4 for b in body)


def test_library_from_the_store(tmp_path, parts):
    from inspector.store import NewInspection, Verdict, open_store

    recipe = Recipe(name="tile", detector="anomalydino", references=(str(parts[0]),))
    store = open_store(tmp_path / "db.sqlite")
    try:
        version = store.save_recipe_version("tile", recipe.to_dict())
        other = store.save_recipe_version("other", Recipe(name="other").to_dict())
        from inspector.store import sha256_file

        def add(i, verdict, recipe_version=version.id):
            item = NewInspection(
                content_hash=sha256_file(parts[i]), recipe_version_id=recipe_version, score=0.1, threshold=0.5,
                verdict=verdict, detector="anomalydino", model_id="m", file_path=str(parts[i]),
            )  # fmt: skip
            store.add_inspections([item])
            return item.id

        reviewed = add(1, Verdict.PASS)
        store.add_override(reviewed, "ana", Verdict.PASS)  # confirmed good
        add(2, Verdict.PASS)  # not reviewed: not a label
        relabelled = add(3, Verdict.FAIL)
        store.add_override(relabelled, "ben", Verdict.PASS)  # marked good
        confirmed_bad = add(4, Verdict.FAIL)
        store.add_override(confirmed_bad, "ana", Verdict.FAIL)
        elsewhere = add(5, Verdict.PASS, other.id)
        store.add_override(elsewhere, "ana", Verdict.PASS)
        golden = add(6, Verdict.PASS)
        store.add_override(golden, "ana", Verdict.PASS)

        store.golden.add(recipe.name, parts[6], "good", signer=None)  # golden parts are never learned from
        library = build_library(recipe, store)
        by_path = {p.path: p for p in library.parts}
        assert set(by_path) == {str(parts[0]), str(parts[1]), str(parts[3])}
        assert by_path[str(parts[0])].origin == PartOrigin.REFERENCE
        assert by_path[str(parts[1])].origin == PartOrigin.REVIEWED_PASS
        assert by_path[str(parts[3])].origin == PartOrigin.MARKED_GOOD and by_path[str(parts[3])].reviewed_by == "ben"
        from inspector.training.library import remove_from_library

        smaller = build_library(remove_from_library(recipe, sha256_file(parts[1])), store)
        assert {p.path for p in smaller.parts} == {str(parts[0]), str(parts[3])}
    finally:
        store.close()
