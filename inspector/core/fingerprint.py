"""Fingerprints of the model weights a station actually loaded.

A fingerprint names the exact weights behind a verdict: ``sha256:<hex>`` over the weight files
(their names, sizes and contents; a hub cache's links are followed), or ``random:<seed>`` for an
architecture built with random weights (tests and benchmarks). Hashing a large model takes
seconds, so each file's digest is cached in ``<weights dir>/fingerprints.json``, keyed by its
absolute path, size and modification time: a changed, replaced or truncated file is hashed again.
Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from inspector.core.paths import weights_dir

log = logging.getLogger(__name__)

RANDOM_PREFIX = "random:"
SHA_PREFIX = "sha256:"
CACHE_NAME = "fingerprints.json"
_CHUNK = 1 << 20
_lock = threading.Lock()


def random_fingerprint(seed: int) -> str:
    """The fingerprint of an architecture built with random weights from ``seed``."""
    return f"{RANDOM_PREFIX}{int(seed)}"


def is_random(fingerprint: str) -> bool:
    return fingerprint.startswith(RANDOM_PREFIX)


def short_fingerprint(fingerprint: str | None) -> str:
    """What reports and the review detail show: ``sha256:1a2b3c4d5e6f`` -> ``1a2b3c4d5e6f``."""
    if not fingerprint:
        return "unrecorded"
    if fingerprint.startswith(SHA_PREFIX):
        return fingerprint[len(SHA_PREFIX) : len(SHA_PREFIX) + 12]
    return fingerprint


def _cache_path() -> Path:
    return weights_dir() / CACHE_NAME


def _read_cache(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only weights folder only costs hashing again next start
        log.warning("could not save the weights fingerprint cache %s: %s", path, exc)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weights_fingerprint(files: Iterable[Path], cache_file: Path | None = None) -> str:
    """``sha256:<hex>`` over the given files (each by name, size and content digest).

    Args:
        files: The files that make up the weights (weights, and a transformers model's config.json).
        cache_file: Where per-file digests are cached (default ``<weights dir>/fingerprints.json``).
    """
    named = sorted({(Path(f).name, Path(f).resolve()) for f in files})
    if not named:
        raise ValueError("a weights fingerprint needs at least one file")
    cache_file = cache_file or _cache_path()
    with _lock:
        cache = _read_cache(cache_file)
        changed = False
        overall = hashlib.sha256()
        for name, path in named:
            st = path.stat()
            key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
            digest = cache.get(key)
            if digest is None:
                digest = file_sha256(path)
                stale = [k for k in cache if k.startswith(f"{path}|")]
                for k in stale:
                    del cache[k]
                cache[key] = digest
                changed = True
            overall.update(f"{name}\0{st.st_size}\0{digest}\n".encode())
        if changed:
            _write_cache(cache_file, cache)
    return SHA_PREFIX + overall.hexdigest()
