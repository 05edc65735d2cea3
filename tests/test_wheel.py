"""The package installs as a wheel: registry and styles ship inside it, and it runs outside the checkout.

The wheel is built from the tracked sources (copied, so the checkout gets no build/ folder), installed
without dependencies into a fresh venv whose only link to this environment is a ``.pth`` line naming
this venv's site-packages (the heavy dependencies, not the editable checkout: ``.pth`` files found
there are not processed), then run from a folder outside the checkout with no ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INSPECTOR_MODELS_DIR")}
    env["PIP_NO_INDEX"] = "1"
    source = base / "src"
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z", "--", "inspector", "pyproject.toml", "README.md"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    wheels = base / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)], base, env)
    (wheel,) = wheels.glob("inspector-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base, env).stdout.strip()
    )
    (purelib / "_inspector_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], base, env)
    work = base / "elsewhere"
    work.mkdir()
    env["INSPECTOR_DATA_DIR"] = str(base / "data")
    return wheel, venv, work, env, purelib


def test_the_wheel_holds_the_registry_and_the_styles(installed):
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    registry = {n for n in names if n.startswith("inspector/models/") and n.endswith(".json")}
    assert {p.relative_to(REPO).as_posix() for p in (REPO / "inspector" / "models").glob("*.json")} == registry
    assert {"inspector/resources/style/base.qss", "inspector/resources/style/dark.qss"} <= names
    assert "inspector/resources/icons/inspector.svg" in names


def test_the_installed_package_runs_outside_the_checkout(installed):
    _, venv, work, env, purelib = installed
    where = _run([str(venv / "bin" / "python"), "-c", "import inspector; print(inspector.__file__)"], work, env)
    assert Path(where.stdout.strip()).is_relative_to(purelib)  # the wheel's copy, not the checkout
    models = _run([str(venv / "bin" / "inspector"), "models", "list", "--json"], work, env)
    ids = {row["id"] for row in json.loads(models.stdout)}
    assert {"dinov2-small", "clip-vit-b-16", "blip-base"} <= ids
    gui = _run([str(venv / "bin" / "inspector"), "gui", "--help"], work, {**env, "QT_QPA_PLATFORM": "offscreen"})
    assert "usage" in gui.stdout.lower()
    theme = (
        "from inspector.ui.theme import stylesheet, tokens; from inspector.core.paths import package_data; "
        f"assert package_data('models').is_relative_to({str(purelib)!r}); "
        "assert tokens('dark'); print(len(stylesheet('dark')))"
    )
    assert int(_run([str(venv / "bin" / "python"), "-c", theme], work, env).stdout) > 1000


def test_the_caption_process_starts_from_the_installed_package(installed):
    _, venv, work, env, _ = installed
    code = (
        "from inspector.captioning.base import NoCaptioner\n"
        "from inspector.captioning.process import ProcessCaptioner\n"
        "child = ProcessCaptioner(NoCaptioner(), start_timeout_s=60)\n"
        "child.load()\n"
        "print('loaded', child.loaded)\n"
        "child.close()\n"
    )
    done = _run([str(venv / "bin" / "python"), "-c", code], work, env)
    assert "loaded True" in done.stdout
