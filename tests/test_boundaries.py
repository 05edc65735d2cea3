"""Architecture rules: the core imports no Qt and no torch; the CLI starts without torch."""

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
import inspector.core as core
for mod in pkgutil.walk_packages(core.__path__, "inspector.core."):
    importlib.import_module(mod.name)
{extra}
heavy = {{"PySide6", "pyqtgraph", "torch", "transformers", "open_clip"}}
bad = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(",".join(bad))
"""


def _run(extra: str = "") -> str:
    out = subprocess.run([sys.executable, "-c", CHECK.format(extra=extra)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_core_imports_neither_qt_nor_torch():
    assert _run() == ""


@pytest.mark.parametrize("package", ["inspector.sources", "inspector.store", "inspector.reports", "inspector.pipeline"])
def test_io_packages_import_neither_qt_nor_torch(package):
    assert (
        _run(f"""
for mod in pkgutil.walk_packages(importlib.import_module({package!r}).__path__, {package!r} + "."):
    importlib.import_module(mod.name)""")
        == ""
    )


@pytest.mark.parametrize(
    "module",
    ["inspector.cli", "inspector.evaluation", "inspector.detectors.factory", "inspector.bench", "inspector.recipes"],
)
def test_entry_modules_import_torch_lazily(module):
    assert _run(f"importlib.import_module({module!r})") == ""
