"""A run's start reads the recipe's reference images once: the detector is fitted on them and the
identity check embeds the same images (a session's next run with the same references reads none).
An unreadable reference still stops the start with the message naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.core.images import ImageLoadError
from inspector.core.recipe import Recipe
from inspector.detectors.identity import identity_check_for
from inspector.pipeline import RunRequest, RunState, RunStateChanged, SessionConfig, open_session
from inspector.sources import SourceKind, SourceSpec
from tests.helpers import fitted_tiny_dino, texture, write_parts


@pytest.fixture
def recipe(tmp_path, tiny_registry) -> Recipe:
    from PIL import Image

    refs = []
    for i in range(3):
        path = tmp_path / f"ref_{i}.png"
        Image.fromarray(texture(80, 96, seed=i)).save(path)
        refs.append(str(path))
    return Recipe(
        name="bracket",
        object_name="bracket",
        detector="anomalydino",
        model="tiny-dino",
        references=tuple(refs),
        threshold=0.05,
        detector_params={"resolution": 56},
    )


@pytest.fixture
def reads(monkeypatch, recipe) -> list[str]:
    """The reference files read through the recipe operations (``inspector.recipes.load_image``)."""
    import inspector.recipes

    seen: list[str] = []
    real = inspector.recipes.load_image

    def counting(path, **kwargs):
        if str(path) in recipe.references:
            seen.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(inspector.recipes, "load_image", counting)
    return seen


def _config(tmp_path) -> SessionConfig:
    return SessionConfig(database=tmp_path / "db.sqlite", device="cpu", dtype="float32", random_weights=True)


def test_a_session_run_reads_each_reference_once_and_its_next_run_none(tmp_path, recipe, reads):
    write_parts(tmp_path / "parts", 3, defect_every=0)
    spec = SourceSpec(SourceKind.FOLDER, tmp_path / "parts")
    with open_session(_config(tmp_path)) as session:
        first = session.run(RunRequest(recipe, spec))
        assert first.error is None and first.inspected == 3
        assert "thresholds from the 3 references at start" in first.identity_note
        assert sorted(reads) == ["ref_0.png", "ref_1.png", "ref_2.png"]  # fitted and embedded: one read each
        write_parts(tmp_path / "more", 2, defect_every=0, size=(96, 81))
        second = session.run(RunRequest(recipe, SourceSpec(SourceKind.FOLDER, tmp_path / "more")))
        assert second.error is None and second.inspected == 2
        assert second.identity_note == first.identity_note  # the same references, not read again
        assert len(reads) == 3


def test_an_unreadable_reference_stops_the_start_with_its_name(tmp_path, recipe):
    Path(recipe.references[1]).write_bytes(b"not a png")
    write_parts(tmp_path / "parts", 2, defect_every=0)
    states: list[RunStateChanged] = []
    with open_session(_config(tmp_path)) as session:
        session.subscribe(states.append, RunStateChanged)
        with pytest.raises(ImageLoadError, match="ref_1.png"):
            session.run(RunRequest(recipe, SourceSpec(SourceKind.FOLDER, tmp_path / "parts")))
    failed = [s for s in states if s.state is RunState.FAILED]
    assert failed and "ref_1.png" in failed[-1].message


def test_the_identity_check_reads_the_references_itself_when_none_are_given(tmp_path, recipe, reads):
    detector = fitted_tiny_dino(recipe)
    assert len(reads) == 3
    _check, note = identity_check_for(recipe, detector)
    assert "3 references at start" in note and len(reads) == 6
    Path(recipe.references[2]).write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"ref_2\.png.*empty"):
        identity_check_for(recipe, detector)
