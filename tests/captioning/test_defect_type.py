"""Zero-shot defect type with a tiny open_clip CLIP (random weights)."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.captioning.defect_type import (
    DEFECT_TEMPLATES,
    DefectTypeClassifier,
    class_phrase,
    clip_of_detector,
    defect_prompts,
    unique_classes,
)
from inspector.errors import InspectorError, WeightsMissingError
from tests.captioning.conftest import part_image


def test_prompts_and_class_names():
    assert class_phrase("cut_inner-insulation ") == "cut inner insulation"
    assert unique_classes(["scratch", " ", "Scratch", "crack", "hole", "crack"]) == ["scratch", "crack", "hole"]
    prompts = defect_prompts("ball screw", "pitting")
    assert len(prompts) == len(DEFECT_TEMPLATES)
    assert prompts[0] == "a photo of a ball screw with a pitting defect."
    assert all("ball screw" in p and "pitting" in p for p in prompts)


def test_classifies_among_the_recipe_classes(tiny_clip):
    classifier = DefectTypeClassifier(tiny_clip)
    classes = ("scratch", "crack", "hole", "contamination")
    result = classifier.classify(part_image(0, (80, 80)), "screw", classes)
    assert result.label in classes
    assert [c for c, _ in result.probabilities] != [] and {c for c, _ in result.probabilities} == set(classes)
    probs = [p for _, p in result.probabilities]
    assert sum(probs) == pytest.approx(1.0, abs=1e-6)
    assert probs == sorted(probs, reverse=True)
    assert result.confidence == probs[0] and result.label == result.probabilities[0][0]
    assert result.random_weights
    # text prototypes are computed once per object and class list
    assert len(classifier._text_cache) == 1
    again = classifier.classify(part_image(0, (80, 80)), "screw", list(classes))
    assert again == result and len(classifier._text_cache) == 1
    # different crops can get different probabilities
    other = classifier.classify(np.zeros((80, 80, 3), np.uint8), "screw", classes)
    assert other.probabilities != result.probabilities


def test_no_classes_no_defect_type_and_one_class_is_certain(tiny_clip):
    classifier = DefectTypeClassifier(tiny_clip)
    assert classifier.classify(part_image(1), "screw", ()) is None
    assert classifier.classify(part_image(1), "screw", [" "]) is None
    single = classifier.classify(part_image(1), "screw", ["crack"])
    assert single.label == "crack" and single.confidence == 1.0


def test_shares_the_detectors_clip_model(tiny_clip):
    from inspector.detectors.winclip import WinClipDetector

    detector = WinClipDetector(tiny_clip, "screw")
    shared = clip_of_detector(detector)
    assert shared is tiny_clip
    classifier = DefectTypeClassifier(shared)
    assert classifier.loaded and classifier.load() is tiny_clip
    assert clip_of_detector(object()) is None


def test_default_clip_loads_lazily_and_reports_missing_weights():
    classifier = DefectTypeClassifier()
    assert not classifier.loaded and classifier.model_id == "clip-vit-b-16"
    assert classifier.classify(part_image(2), "screw", ()) is None  # nothing to do: nothing loaded
    assert not classifier.loaded
    with pytest.raises(WeightsMissingError, match="clip-vit-b-16"):
        classifier.classify(part_image(2), "screw", ("scratch", "crack"))
    with pytest.raises(InspectorError, match="defect types need a CLIP model"):
        DefectTypeClassifier(model="dinov2-small").load()
    with pytest.raises(InspectorError, match="slot"):
        DefectTypeClassifier(templates=("a photo of a {object}",))
