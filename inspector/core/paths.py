"""Where the station keeps its data, weights and model registry."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "inspector"


def data_dir() -> Path:
    """The station's data folder: ``INSPECTOR_DATA_DIR`` or the per-user data folder."""
    env = os.environ.get("INSPECTOR_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def weights_dir() -> Path:
    """Where imported model weights live: ``INSPECTOR_WEIGHTS_DIR`` or ``<data>/weights``."""
    env = os.environ.get("INSPECTOR_WEIGHTS_DIR")
    return Path(env).expanduser() if env else data_dir() / "weights"


def registry_dir() -> Path:
    """The model registry folder: ``INSPECTOR_MODELS_DIR`` or the project's ``models/``."""
    env = os.environ.get("INSPECTOR_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "models"
