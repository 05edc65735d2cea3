"""Trained-detector artefacts: safetensors files named by their content hash.

A trained detector's state (memory bank, adaptor and discriminator weights, prompt vectors, a
student network) is a flat ``{name: float32 array}`` mapping. It is written as one safetensors file
(no pickle, nothing executable) named ``<sha256>.safetensors`` under ``<folder>/<sha[:2]>/``: the
name is the fingerprint recorded in the recipe, and loading checks that the bytes still hash to
it, so a swapped or damaged file is refused instead of silently scoring with other weights.
Files are written to a temporary name and renamed into place: a cancelled or crashed training
never leaves half a file under a real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError

SUFFIX = ".safetensors"
FORMAT = "inspector-detector-state"


@dataclass(frozen=True)
class StoredArtifact:
    """Where a trained state was written and its fingerprint."""

    path: Path
    sha256: str
    size_bytes: int


def state_bytes(state: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of a state (arrays as contiguous float32/int64; keys sorted)."""
    from safetensors.numpy import save

    arrays = {}
    for key in sorted(state):
        value = np.asarray(state[key])
        value = value.astype(np.int64 if np.issubdtype(value.dtype, np.integer) else np.float32, copy=False)
        arrays[key] = np.ascontiguousarray(value)
    meta = {"format": FORMAT, **{str(k): str(v) for k, v in metadata.items()}}
    return save(arrays, metadata=meta)


def save_state(
    state: dict[str, np.ndarray], metadata: dict[str, str], folder: str | os.PathLike[str]
) -> StoredArtifact:
    """Write a state content-addressed under ``folder``; the same state is stored once."""
    data = state_bytes(state, metadata)
    digest = hashlib.sha256(data).hexdigest()
    target = Path(folder) / digest[:2] / f"{digest}{SUFFIX}"
    if not (target.is_file() and target.stat().st_size == len(data)):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredArtifact(target, digest, len(data))


def load_state(path: str | os.PathLike[str], sha256: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a state and its metadata, refusing a file whose bytes do not hash to ``sha256``."""
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InspectorError(f"The trained detector file {path} cannot be read: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    expected = sha256 or path.name.split(".", 1)[0]
    if digest != expected:
        raise InspectorError(
            f"The trained detector file {path} does not match its fingerprint (sha256 {digest[:12]}..., "
            f"expected {expected[:12]}...): it was changed or damaged. Train the recipe again."
        )
    try:
        arrays = load(data)
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - any parse error of a damaged file
        raise InspectorError(f"The trained detector file {path} is not a valid safetensors file: {exc}") from exc
    if metadata.get("format") != FORMAT:
        raise InspectorError(f"{path} is not a trained Inspector detector.")
    return arrays, metadata


def settings_metadata(method: str, model_id: str, settings: dict) -> dict[str, str]:
    return {"method": method, "model_id": model_id, "settings": json.dumps(settings, sort_keys=True)}
