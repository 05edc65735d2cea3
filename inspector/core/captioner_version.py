"""Captioner versions: a LoRA adapter trained on operators' corrected captions, and its record.

A version is a folder ``<base>-lora-<fingerprint>/`` holding ``adapter.safetensors`` (the adapter
weights only, never the base model) and ``captioner.json`` (this record): the base model's
registry id and weights fingerprint, the LoRA settings, the data it learnt from and the held-out
caption scores before and after. A recipe selects one with its ``captioner_version`` field; loading
checks the adapter's fingerprint and that the station's base weights are the ones it was trained
on. Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError

RECORD = "captioner.json"
ADAPTER = "adapter.safetensors"
FORMAT = "inspector-captioner-version"


class CaptionerVersionError(InspectorError):
    """A captioner version that cannot be used here (missing, altered, or for other base weights)."""


@dataclass(frozen=True)
class CaptionerVersion:
    """The record of one captioner version (``captioner.json``).

    Attributes:
        id: ``<base>-lora-<12 hex of the adapter fingerprint>`` (what captions record as their model).
        base_model: Registry id of the base captioner.
        base_fingerprint: The base weights it was trained on (``sha256:...`` or ``random:<seed>``).
        adapter_fingerprint: ``sha256:...`` of ``adapter.safetensors`` (core.fingerprint).
        lora: LoRA settings (rank, alpha, dropout, target modules) as peft's config takes them.
        training: Options, losses, seconds per epoch, device and dtype.
        data: The corrected parts trained on and held out (inspection ids), and the recipe filter.
        metrics: ``{"before": {...}, "after": {...}}`` caption scores on the held-out parts.
        random_weights: The base had random weights (tests, benchmarks): its captions are meaningless.
        created_at: UTC time of training (ISO 8601).
    """

    id: str
    base_model: str
    base_fingerprint: str
    adapter_fingerprint: str
    lora: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    random_weights: bool = False
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "captioner version") -> CaptionerVersion:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CaptionerVersionError(f"{source} is not an Inspector captioner version (no 'format: {FORMAT}').")
        body = {k: v for k, v in data.items() if k != "format"}
        try:
            return cls(**body)
        except TypeError as exc:
            raise CaptionerVersionError(f"{source} is not a valid captioner version: {exc}") from exc


def version_folder(path: str | Path) -> Path:
    """The version's folder for a folder or its ``captioner.json``."""
    path = Path(path)
    return path.parent if path.name == RECORD else path


def read_version(path: str | Path) -> CaptionerVersion:
    """Read a version's record (the folder or its ``captioner.json``)."""
    folder = version_folder(path)
    record = folder / RECORD
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CaptionerVersionError(
            f"There is no captioner version at {folder} ({RECORD} is missing). Train one with "
            "'inspector train-captioner --from-reviews', or choose another in the recipe."
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaptionerVersionError(f"The captioner version {record} cannot be read: {exc}") from exc
    return CaptionerVersion.from_json(data, str(record))


def write_version(folder: Path, version: CaptionerVersion) -> Path:
    """Write the record atomically; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / RECORD
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(version.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(record)
    return record
