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
    """Path of a dataset in ``../shared/datasets``; skip the test without it, except in CI (``CI=true``),
    where the datasets are always provided and a missing one is a failure, not a silent skip."""
    path = SHARED / name
    if not path.is_dir():
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI=true but the shared dataset {path} is missing: CI must provide ../shared/datasets")
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


@pytest.fixture(scope="session")
def saved_dinov2_small(tmp_path_factory):
    """A full-size DINOv2-small built with random values and saved with ``save_pretrained``.

    It counts as real weights (a folder a user could import); built once per test session.
    """
    from inspector._torch import import_torch
    from inspector.backbones.loading import hub_architecture
    from inspector.core.registry import get_spec

    torch = import_torch()
    from transformers import Dinov2Config, Dinov2Model

    folder = tmp_path_factory.mktemp("saved") / "dinov2-small"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        Dinov2Model(Dinov2Config(**hub_architecture(get_spec("dinov2-small")))).save_pretrained(folder)
    return folder
