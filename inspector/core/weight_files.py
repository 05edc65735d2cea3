"""Checks on weight files that need no torch: present, non-empty, complete.

A safetensors file states its own length (an 8-byte header size, a JSON header, then the tensors
at the offsets the header gives), so a truncated download or copy is found without loading it. A
sharded checkpoint's ``*.index.json`` names every shard it needs. ``torch.save`` zip files must
have their central directory (it is at the end: a cut file has none).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from inspector.core.registry import WEIGHT_SUFFIXES, ModelSpec, transformers_weight_files


def file_problem(path: Path) -> str | None:
    """What is wrong with one weights file, or None when it looks whole."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    if size == 0:
        return f"{path.name} is empty (0 bytes)"
    if path.suffix == ".safetensors":
        return _safetensors_problem(path, size)
    if path.suffix in (".bin", ".pt", ".pth") and zipfile.is_zipfile(path) is False and _looks_like_zip(path):
        return f"{path.name} is truncated or damaged (its zip directory is missing)"
    return None


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _safetensors_problem(path: Path, size: int) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{path.name} is truncated ({size} bytes: not even a safetensors header)"
        n = int.from_bytes(head, "little")
        if n > size - 8:
            return f"{path.name} is truncated ({size} bytes; its header alone needs {n + 8})"
        try:
            header = json.loads(handle.read(n))
        except (ValueError, UnicodeDecodeError):
            return f"{path.name} is not a safetensors file (its header is not readable)"
    if not isinstance(header, dict):
        return f"{path.name} is not a safetensors file (its header is not a table of tensors)"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        return f"{path.name} is truncated ({size} bytes of {expected})"
    return None


def shard_problems(folder: Path) -> list[str]:
    """Shards that a sharded checkpoint's index names but the folder lacks."""
    problems = []
    for index in sorted(folder.glob("*.index.json")):
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        except (OSError, ValueError, AttributeError):
            problems.append(f"{index.name} is not readable")
            continue
        missing = sorted({str(v) for v in weight_map.values()} - {p.name for p in folder.iterdir()})
        if missing:
            problems.append(f"{index.name} names shards that are missing: {', '.join(missing)}")
    return problems


def weights_problems(spec: ModelSpec, location: Path) -> list[str]:
    """Everything missing, empty or truncated in weights for ``spec`` at ``location``.

    ``location`` is the weights file (open_clip) or the model folder (transformers).
    """
    if spec.backend != "transformers":
        if not location.is_file():
            return [f"the weights file {location.name} is missing"]
        return [p for p in [file_problem(location)] if p]
    problems = []
    if not (location / "config.json").is_file():
        problems.append("config.json is missing")
    files = transformers_weight_files(location) if location.is_dir() else []
    if not files:
        problems.append(f"no weight file ({', '.join(WEIGHT_SUFFIXES)}) is there")
    problems += [p for p in (file_problem(f) for f in files) if p]
    if location.is_dir():
        problems += shard_problems(location)
    return problems
