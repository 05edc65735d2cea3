"""Architecture rules for the window: nothing imports it, it starts without torch, modules stay small."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "inspector"


def test_nothing_outside_the_ui_imports_it():
    """Only the command-line entry point (``inspector gui``) may start the window."""
    pattern = re.compile(r"^\s*(from|import)\s+inspector\.ui\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "ui" not in p.relative_to(PACKAGE).parts[:1] and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == ["cli.py"]


def test_the_window_modules_import_without_torch():
    code = (
        "import sys, importlib, pkgutil, inspector.ui as ui\n"
        "for m in pkgutil.walk_packages(ui.__path__, 'inspector.ui.'):\n"
        "    if m.name != 'inspector.ui.__main__': importlib.import_module(m.name)\n"
        "heavy = ('torch', 'transformers', 'open_clip')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_modules_stay_under_600_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (PACKAGE / "ui").glob("*.py")}
    assert max(sizes.values()) < 600, sizes
