"""The detector table is the one home of the detectors' names and properties; everything reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

import inspector
from inspector.core import model_fit, recipe_schema
from inspector.core.detector_table import DETECTOR_TABLE, DETECTORS, detector_kind
from inspector.core.recipe import DEFAULT_MODELS, TRAINED_DETECTORS, Recipe
from inspector.errors import InspectorError

PACKAGE = Path(inspector.__file__).parent


def test_the_recipe_the_schema_and_the_model_rule_read_the_table():
    assert get_args(recipe_schema.RecipeBody.model_fields["detector"].annotation) == DETECTORS
    assert {k.name: k.role for k in DETECTOR_TABLE} == model_fit.ROLES
    assert {k.name: k.default_model for k in DETECTOR_TABLE} == DEFAULT_MODELS
    assert tuple(k.name for k in DETECTOR_TABLE if k.trained) == TRAINED_DETECTORS
    for kind in DETECTOR_TABLE:
        recipe = Recipe(name="r", object_name="o", detector=kind.name)
        assert recipe.few_shot is kind.few_shot
        if kind.trained:
            trained = Recipe(name="r", object_name="o", detector=kind.name, detector_params={"artifact": "a.st"})
            assert not trained.few_shot  # a trained artefact scores without references


def _subcommand(parser, *names):
    for name in names:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[name]
    return parser


def test_the_command_line_and_the_bench_read_the_table():
    from inspector.bench import DEFAULT_DETECTORS
    from inspector.cli import build_parser

    parser = build_parser()
    for names in (("eval",), ("bench",), ("recipe", "new")):
        (detector,) = [a for a in _subcommand(parser, *names)._actions if a.dest == "detector"]
        assert tuple(detector.choices) == DETECTORS, names
    assert tuple(k.name for k in DETECTOR_TABLE if k.bench) == DEFAULT_DETECTORS


def test_an_unknown_detector_is_refused_with_the_valid_names():
    with pytest.raises(InspectorError, match="choose one of winclip, winclip\\+, anomalydino"):
        detector_kind("yolo")
    from inspector.detectors.factory import create_detector

    with pytest.raises(InspectorError, match="Unknown detector 'yolo'"):
        create_detector("yolo")


def test_no_other_module_lists_the_detector_names():
    listing = re.compile(r"""["']winclip\+?["'].{0,80}["']anomalydino["']|["']anomalydino["'].{0,80}["']winclip""")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "detector_table.py" and listing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
