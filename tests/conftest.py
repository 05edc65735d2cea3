"""Shared fixtures: tiny real architectures with random weights, and the shared datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Never touch the real per-user data folder from tests."""
    data = tmp_path_factory.mktemp("inspector-data")
    monkeypatch.setenv("INSPECTOR_DATA_DIR", str(data))
    monkeypatch.delenv("INSPECTOR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return data


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ``../shared/datasets``, or skip the test with the reason."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} is not present on this machine")
    return path


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """A throw-away model registry holding only a tiny DINOv2 (``tiny-dino``; random weights only)."""
    from tests.helpers import TINY_DINO

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-dino.json").write_text(json.dumps(TINY_DINO))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(folder))
    return folder
