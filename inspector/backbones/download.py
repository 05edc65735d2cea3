"""``inspector models download``: fetch a model's weights from the hub, then check that all arrived.

A download is reported as done only when every file a load needs is there, whole (see
:mod:`inspector.core.weight_files`), of the size the hub lists where the hub says, and where the
station looks for it; otherwise the error names what is missing (exit code 3).
"""

from __future__ import annotations

import logging
from pathlib import Path

from inspector.core.registry import ModelSpec
from inspector.core.weight_files import weights_problems
from inspector.errors import InspectorError, WeightsMissingError

log = logging.getLogger(__name__)

_EXTRA_FILES = ["*.json", "*.txt", "*.model", "*.tiktoken"]  # config, tokenizer and processor files


def download_weights(spec: ModelSpec) -> Path:
    """Download ``spec``'s weights into the hub cache and verify them; return where they are."""
    if not spec.hub_id:
        raise InspectorError(f"Model '{spec.id}' has no hub id in the registry: import its weights instead.")
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        if spec.backend == "transformers":
            # the weights once: safetensors where the hub has them, else the .bin files
            path = Path(snapshot_download(spec.hub_id, allow_patterns=[*_EXTRA_FILES, "*.safetensors"]))
            if not any(path.glob("*.safetensors")):
                path = Path(snapshot_download(spec.hub_id, allow_patterns=[*_EXTRA_FILES, "*.bin"]))
        else:
            last: Exception | None = None
            for name in spec.hub_files:
                try:
                    path = Path(hf_hub_download(spec.hub_id, name))
                    break
                except Exception as exc:  # noqa: BLE001 - try the next file name
                    last = exc
            else:
                raise last or InspectorError("no weight file")
    except Exception as exc:  # noqa: BLE001 - network errors of all kinds
        raise WeightsMissingError(
            f"Could not download '{spec.hub_id}' ({spec.size_mb} MB): {exc}\n"
            f"On an air-gapped station, use 'inspector models import PATH --model {spec.id}'."
        ) from exc
    problems = weights_problems(spec, path) + _size_problems(spec, path)
    if not problems and not spec.has_weights():
        problems.append(f"the station does not find them where it looks (the hub cache; {spec.local_dir()})")
    if problems:
        raise WeightsMissingError(
            f"The download of '{spec.id}' from '{spec.hub_id}' is incomplete: {'; '.join(problems)}.\n"
            f"Nothing usable arrived in {path}; run 'inspector models download {spec.id}' again, or "
            f"import the files: inspector models import PATH --model {spec.id}"
        )
    return path


def _size_problems(spec: ModelSpec, path: Path) -> list[str]:
    """Files whose size differs from the hub's listing (skipped when the hub cannot be asked)."""
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(spec.hub_id, files_metadata=True)
        sizes = {s.rfilename: s.size for s in info.siblings or () if s.size is not None}
    except Exception as exc:  # noqa: BLE001 - offline or an old hub: the files' own checks still ran
        log.info("file sizes of %s not checked against the hub: %s", spec.hub_id, exc)
        return []
    return [
        f"{f.name} has {f.stat().st_size} bytes, the hub lists {sizes[f.name]}"
        for f in files
        if f.name in sizes and f.stat().st_size != sizes[f.name]
    ]
