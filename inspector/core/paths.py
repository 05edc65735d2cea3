"""Where the station keeps its data, weights and model registry.

What ships with the package (the model registry ``inspector/models/*.json``, the stylesheets and
icons under ``inspector/resources/``) is package data, found through :mod:`importlib.resources`, so
a wheel installed anywhere works like a source checkout. What the station writes (database,
artefacts, weights, settings) lives in the data folder, never in the package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from inspector.errors import InspectorError

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


def package_data(*parts: str) -> Path:
    """A folder or file shipped inside the ``inspector`` package (read-only), as a path on disk."""
    found = resources.files("inspector").joinpath(*parts)
    path = Path(str(found))
    if not path.exists():
        raise InspectorError(
            f"The installed inspector package has no {'/'.join(parts)} (a broken or zipped install): "
            "reinstall it with pip."
        )
    return path


def registry_dir() -> Path:
    """The model registry folder: ``INSPECTOR_MODELS_DIR`` or the package's own ``models/``."""
    env = os.environ.get("INSPECTOR_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return package_data("models")
