"""The model registry: one JSON file per model under ``models/``.

Like open_clip's ``model_configs``, architecture and weights source are data. A spec names the
backend (``open_clip`` or ``transformers``), the architecture, where weights come from (a hub id
and/or a folder imported onto an air-gapped station), input size, preprocessing and the
recommended dtype per device. Nothing here imports torch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.core.paths import registry_dir, weights_dir
from inspector.errors import InspectorError, WeightsInvalidError, WeightsMissingError

REGISTRY_SCHEMA = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        id: Registry id, e.g. ``clip-vit-b-16-plus-240``.
        title: Human-readable name.
        role: ``clip`` (image + text), ``vision`` (patch features) or ``captioner``.
        backend: ``open_clip`` or ``transformers``.
        architecture: open_clip model name, or transformers class name.
        pretrained: open_clip pretrained tag (empty for transformers).
        hub_id: Model hub repository the weights come from.
        hub_files: Files of the hub repository that hold the weights (the first found counts).
        size_mb: Download size, for messages.
        input_size: Native square input size in pixels.
        patch_size: ViT patch size.
        mean: Normalisation mean (RGB).
        std: Normalisation std (RGB).
        interpolation: How images are resized to the input (``preprocess.interpolation``):
            ``bicubic`` (antialiased, on the float tensor, as the reference implementations),
            ``bilinear`` (antialiased) or ``nearest``.
        dtype: Recommended dtype per device kind (``cpu``/``cuda``); ``auto`` measures.
        config: Optional inline architecture config (tiny test models; no weights needed).
        open_clip_kwargs: Extra keyword arguments for ``open_clip.create_model``.
        source: File the spec was read from.
    """

    id: str
    title: str
    role: str
    backend: str
    architecture: str
    pretrained: str = ""
    hub_id: str = ""
    hub_files: tuple[str, ...] = ()
    size_mb: int = 0
    input_size: int = 224
    patch_size: int = 16
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    interpolation: str = "bicubic"
    dtype: dict[str, str] = field(default_factory=lambda: {"cpu": "auto", "cuda": "float16"})
    config: dict[str, Any] | None = None
    open_clip_kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> ModelSpec:
        schema = int(data.get("schema", 1))
        if schema > REGISTRY_SCHEMA:
            raise InspectorError(
                f"Model file {source or data.get('id')} uses registry schema {schema}; this "
                f"station reads up to {REGISTRY_SCHEMA}. Update the station to use it."
            )
        pre = data.get("preprocess", {})
        known = {k: data[k] for k in ("id", "title", "role", "backend", "architecture") if k in data}
        missing = {"id", "role", "backend", "architecture"} - known.keys()
        if missing:
            raise InspectorError(f"Model file {source} lacks {', '.join(sorted(missing))}.")
        return cls(
            id=known["id"],
            title=known.get("title", known["id"]),
            role=known["role"],
            backend=known["backend"],
            architecture=known["architecture"],
            pretrained=data.get("pretrained", ""),
            hub_id=data.get("hub_id", ""),
            hub_files=tuple(data.get("hub_files", ())),
            size_mb=int(data.get("size_mb", 0)),
            input_size=int(data.get("input_size", 224)),
            patch_size=int(data.get("patch_size", 16)),
            mean=tuple(pre.get("mean", cls.mean)),
            std=tuple(pre.get("std", cls.std)),
            interpolation=_interpolation(pre.get("interpolation", "bicubic"), source or str(data.get("id"))),
            dtype=dict(data.get("dtype", {"cpu": "auto", "cuda": "float16"})),
            config=data.get("config"),
            open_clip_kwargs=dict(data.get("open_clip_kwargs", {})),
            source=source,
        )

    # -- where the weights are ------------------------------------------------------------
    def local_dir(self) -> Path:
        """Folder that ``inspector models import`` fills for this model."""
        return weights_dir() / self.id

    def local_weights(self) -> Path | None:
        """The imported weights: a file (open_clip) or a folder (transformers), if present."""
        folder = self.local_dir()
        if not folder.is_dir():
            return None
        if self.backend == "transformers":
            has_weights = any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir())
            return folder if (folder / "config.json").is_file() and has_weights else None
        files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
        return files[0] if files else None

    def cached_hub_weights(self) -> Path | None:
        """Weights already in the Hugging Face hub cache of this user, if any."""
        if not self.hub_id:
            return None
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
            return None
        for name in self.hub_files:
            found = try_to_load_from_cache(self.hub_id, name)
            if isinstance(found, str):
                return Path(found)
        return None

    def loaded_files(self) -> list[Path]:
        """The files a real load reads (for the fingerprint): empty when the weights are not here.

        open_clip: the one weights file. transformers: ``config.json`` and the weight files of the
        model folder (the safetensors files where there are any, as ``from_pretrained`` prefers them).
        """
        if self.config is not None:
            return []
        if self.backend != "transformers":
            location = self.weights_location()
            return [location] if location is not None else []
        folder = self.local_weights() or self.cached_hub_folder()
        if folder is None:
            return []
        return [folder / "config.json", *transformers_weight_files(folder)]

    def cached_hub_folder(self) -> Path | None:
        """The hub cache's snapshot folder of a transformers model, when its config and weights are there."""
        if self.backend != "transformers" or not self.hub_id or not self.cached_hub_weights():
            return None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.hub_id, "config.json")
        return Path(found).parent if isinstance(found, str) else None

    def weights_location(self) -> Path | None:
        """Local import first, then the hub cache; None when the weights are not here."""
        if self.config is not None:
            return None
        return self.local_weights() or self.cached_hub_weights()

    def has_weights(self) -> bool:
        return self.weights_location() is not None

    def missing_weights_error(self) -> WeightsMissingError:
        size = f"{self.size_mb / 1000:.1f} GB" if self.size_mb >= 1000 else f"{self.size_mb} MB"
        return WeightsMissingError(
            f"The weights of model '{self.id}' ({self.title}, about {size}) are not on this "
            "station.\n"
            "Get them one of two ways:\n"
            f"  1. On a machine with internet access:  inspector models download {self.id}\n"
            f"     (fetches '{self.hub_id}' from the model hub into the local cache).\n"
            "  2. On an air-gapped station: copy the downloaded weights (a file or a folder) "
            "onto it, then\n"
            f"     inspector models import PATH --model {self.id}\n"
            f"     (they are kept in {self.local_dir()})."
        )


INTERPOLATIONS = ("bicubic", "bilinear", "nearest")


def _interpolation(value: object, source: str) -> str:
    if value not in INTERPOLATIONS:
        raise InspectorError(
            f"Model file {source}: preprocess.interpolation '{value}' is not one of {', '.join(INTERPOLATIONS)}."
        )
    return str(value)


def transformers_weight_files(folder: Path) -> list[Path]:
    """The weight files ``from_pretrained`` reads from a model folder (safetensors preferred)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    return safetensors or files


def load_registry(folder: Path | None = None) -> dict[str, ModelSpec]:
    """Read every ``*.json`` spec in the registry folder, keyed by id."""
    folder = folder or registry_dir()
    if not folder.is_dir():
        raise InspectorError(f"The model registry folder {folder} does not exist.")
    specs: dict[str, ModelSpec] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InspectorError(f"Model file {path} cannot be read: {exc}") from exc
        spec = ModelSpec.from_dict(data, source=str(path))
        specs[spec.id] = spec
    return specs


def get_spec(model_id: str, folder: Path | None = None) -> ModelSpec:
    specs = load_registry(folder)
    if model_id not in specs:
        raise InspectorError(f"Unknown model '{model_id}'. Known models: {', '.join(sorted(specs))}.")
    return specs[model_id]


def import_weights(
    path: Path,
    model_id: str,
    folder: Path | None = None,
    check: Callable[[ModelSpec, Path, Path], object] | None = None,
) -> Path:
    """Copy weights that were brought onto the station into its weights folder.

    ``path`` is a weights file (open_clip) or a model folder (transformers: ``config.json`` and
    the weight files, as saved by ``save_pretrained`` or found in a hub snapshot). ``check(spec,
    staged, path)`` is called on the staged copy (the weights file, or the folder) before it
    replaces anything, after the torch-free checks of :mod:`inspector.core.weight_files` (empty,
    truncated, missing shards); when either refuses, nothing is registered and earlier weights stay.
    """
    spec = get_spec(model_id, folder)
    path = original = Path(path).expanduser()
    if not path.exists():
        raise InspectorError(f"{path} does not exist.")
    target = spec.local_dir()
    if spec.backend == "transformers":
        if not path.is_dir() or not (path / "config.json").is_file():
            raise InspectorError(
                f"Model '{model_id}' needs a folder with config.json and the weight files; {path} is not one."
            )
        if not any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir()):
            raise InspectorError(f"{path} holds no weight files ({', '.join(WEIGHT_SUFFIXES)}).")
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(path, tmp, symlinks=False)
    else:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
            if not files:
                raise InspectorError(f"{path} holds no weight file ({', '.join(WEIGHT_SUFFIXES)}).")
            path = files[0]
        if path.suffix not in WEIGHT_SUFFIXES:
            raise InspectorError(f"{path} is not a weights file ({', '.join(WEIGHT_SUFFIXES)}).")
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy2(path, tmp / path.name)
    staged = tmp if spec.backend == "transformers" else tmp / path.name
    from inspector.core.weight_files import weights_problems

    try:
        problems = weights_problems(spec, staged)
        if problems:
            raise WeightsInvalidError(
                f"{original} cannot be used as '{spec.id}' ({spec.architecture}): {'; '.join(problems)}. "
                "Nothing was registered."
            )
        if check is not None:
            check(spec, staged, original)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
