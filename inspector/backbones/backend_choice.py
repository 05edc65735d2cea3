"""The remembered ``--backend auto`` choice per machine, model and precision.

Stored as JSON in ``<data folder>/backend-choice.json``: ``{key: {"backend": ..., "seconds": {...}}}``.
The key covers the CPU (model name and instruction sets), the weights' fingerprint, the exported
graph and the precision, so a station whose CPU or model changes measures again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from inspector.backbones.machine import cpu_info

log = logging.getLogger(__name__)


def choice_file() -> Path:
    from inspector.core.paths import data_dir

    return data_dir() / "backend-choice.json"


def choice_key(fingerprint: str, graph: str, dtype: str) -> str:
    cpu = cpu_info()
    body = json.dumps([cpu.model, cpu.cores, cpu.flags, fingerprint, graph, dtype])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _read() -> dict:
    try:
        data = json.loads(choice_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(key: str) -> str | None:
    entry = _read().get(key)
    backend = entry.get("backend") if isinstance(entry, dict) else None
    return backend if backend in ("torch", "openvino") else None


def remember(key: str, backend: str, seconds: dict[str, float]) -> None:
    """Store the choice (atomically; a station that cannot write just measures again next time)."""
    path = choice_file()
    data = _read()
    data[key] = {"backend": backend, "seconds": seconds, "cpu": cpu_info().describe()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".backend-choice-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("Could not remember the backend choice in %s: %s", path, exc)
