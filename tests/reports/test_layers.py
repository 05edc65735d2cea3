"""The report model, its gatherer and its drawers import each other one way only, at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import inspector.reports

REPORTS = Path(inspector.reports.__file__).parent


def report_imports(name: str) -> tuple[set[str], set[str]]:
    """``(module-level, function-level)`` inspector.reports modules imported by ``reports/<name>.py``."""
    tree = ast.parse((REPORTS / f"{name}.py").read_text(encoding="utf-8"))
    top: set[str] = set()
    nested: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("inspector.reports."):
            (top if node in tree.body else nested).add(node.module.removeprefix("inspector.reports."))
    return top, nested


def test_model_charts_and_images_never_import_the_gatherer():
    for name in ("model", "charts", "images", "sections"):
        top, nested = report_imports(name)
        assert "data" not in top | nested, f"reports/{name}.py imports the gatherer"
        assert not nested, f"reports/{name}.py hides imports in functions: {nested}"
    assert report_imports("model")[0] <= {"scope"}


def test_the_gatherer_imports_what_it_uses_at_module_level():
    top, nested = report_imports("data")
    assert {"charts", "images", "model"} <= top and not nested
