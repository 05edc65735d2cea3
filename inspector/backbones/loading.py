"""Build the registry's models, with real weights or (explicitly) random ones."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from inspector._torch import import_torch
from inspector.backbones.runtime import Runtime
from inspector.core.fingerprint import random_fingerprint, weights_fingerprint
from inspector.core.registry import ModelSpec
from inspector.errors import InspectorError, WeightsInvalidError

log = logging.getLogger(__name__)

#: Random-weight builds are seeded, so that ``random:<seed>`` names exactly which weights they had.
RANDOM_SEED = 0


@dataclass
class LoadedModel:
    """A model in eval mode on its device and dtype, and how it was made.

    ``fingerprint`` names the weights: ``sha256:...`` over the files loaded, or ``random:<seed>``.
    """

    spec: ModelSpec
    model: Any
    runtime: Runtime
    random_weights: bool
    tokenizer: Any = None
    fingerprint: str = ""


@contextmanager
def _seeded(seed: int = RANDOM_SEED):
    """Random initialisation from ``seed`` without touching the caller's random state."""
    torch = import_torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _load_failed(spec: ModelSpec, where: object, exc: Exception) -> WeightsInvalidError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WeightsInvalidError(
        f"The weights of model '{spec.id}' in {where} cannot be loaded into its architecture "
        f"({spec.architecture}): {first[:300]}\n"
        f"Import a correct copy: inspector models import PATH --model {spec.id}"
    )


def _finish(model, runtime: Runtime):
    model = model.to(device=runtime.torch_device, dtype=runtime.torch_dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_open_clip(spec: ModelSpec, runtime: Runtime, random_weights: bool = False) -> LoadedModel:
    """Build an open_clip CLIP model and its tokenizer.

    Args:
        spec: Registry entry with ``backend == "open_clip"``.
        runtime: Device and dtype.
        random_weights: Build the architecture without weights (tests, benchmarks only).

    Raises:
        WeightsMissingError: The weights are not on this station (and random weights were not
            asked for).
    """
    import_torch()
    import open_clip

    if spec.config is not None:
        from open_clip.model import CLIP

        if not random_weights:
            raise InspectorError(f"Model '{spec.id}' is an inline test architecture: it has no weights.")
        cfg = dict(spec.config)
        with _seeded():
            model = CLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"])
        fingerprint = random_fingerprint(RANDOM_SEED)
    elif random_weights:
        with _seeded():
            model = open_clip.create_model(spec.architecture, pretrained=None, **spec.open_clip_kwargs)
        fingerprint = random_fingerprint(RANDOM_SEED)
    else:
        location = spec.weights_location()
        if location is None:
            raise spec.missing_weights_error()
        fingerprint = weights_fingerprint([location])
        try:
            model = open_clip.create_model(spec.architecture, pretrained=str(location), **spec.open_clip_kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a weights problem, said plainly
            raise _load_failed(spec, location, exc) from exc
    tokenizer = open_clip.get_tokenizer(spec.architecture if spec.config is None else "ViT-B-16")
    return LoadedModel(spec, _finish(model, runtime), runtime, random_weights, tokenizer, fingerprint)


def _transformers_classes(spec: ModelSpec):
    import transformers

    try:
        model_cls = getattr(transformers, spec.architecture)
    except AttributeError as exc:
        raise InspectorError(f"transformers has no class {spec.architecture} (model '{spec.id}').") from exc
    config_name = spec.architecture.replace("ForConditionalGeneration", "").replace("Model", "") + "Config"
    config_cls = getattr(transformers, config_name, None)
    return model_cls, config_cls


def load_transformers(
    spec: ModelSpec, runtime: Runtime, random_weights: bool = False, config_overrides: dict[str, Any] | None = None
) -> LoadedModel:
    """Build a transformers model from the registry (local folder, hub cache, or random)."""
    import_torch()
    model_cls, config_cls = _transformers_classes(spec)
    if spec.config is not None or random_weights:
        if not random_weights:
            raise InspectorError(f"Model '{spec.id}' is an inline test architecture: it has no weights.")
        config = config_cls(**spec.config) if spec.config is not None else _hub_config(spec, config_cls)
        for key, value in (config_overrides or {}).items():
            setattr(config, key, value)
        with _seeded():
            model = model_cls(config)
        fingerprint = random_fingerprint(RANDOM_SEED)
    else:
        local = spec.local_weights()
        source = str(local) if local is not None else (spec.hub_id if spec.cached_hub_weights() else None)
        if source is None:
            raise spec.missing_weights_error()
        fingerprint = weights_fingerprint(spec.loaded_files())
        try:
            model = model_cls.from_pretrained(source, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a weights problem, said plainly
            raise _load_failed(spec, source, exc) from exc
    return LoadedModel(spec, _finish(model, runtime), runtime, random_weights, fingerprint=fingerprint)


# Architecture hyper-parameters of the registered transformers models, for random-weight builds
# (benchmarks) on a machine without the hub: the same values as the hub's config.json files.
_HUB_CONFIGS: dict[str, dict[str, Any]] = {
    "facebook/dinov2-small": dict(
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        intermediate_size=1536,
        patch_size=14,
        image_size=518,
    ),
    "facebook/dinov2-base": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        patch_size=14,
        image_size=518,
    ),
}


def hub_architecture(spec: ModelSpec) -> dict[str, Any]:
    """The architecture hyper-parameters the registered model must have (empty where unknown here)."""
    return dict(_HUB_CONFIGS.get(spec.hub_id, {}))


def _hub_config(spec: ModelSpec, config_cls):
    if spec.hub_id not in _HUB_CONFIGS or config_cls is None:
        raise InspectorError(
            f"Model '{spec.id}' cannot be built with random weights here: its architecture's hyper-parameters "
            "are not known without its config.json (import its weights, or give an inline config)."
        )
    return config_cls(**_HUB_CONFIGS[spec.hub_id])


def load_model(spec: ModelSpec, runtime: Runtime, random_weights: bool = False) -> LoadedModel:
    """Build the registry's model on the runtime (random weights: seeded, the same every build)."""
    if random_weights:
        log.warning("Model %s built with RANDOM WEIGHTS: its outputs are meaningless.", spec.id)
    if spec.backend == "open_clip":
        return load_open_clip(spec, runtime, random_weights)
    if spec.backend == "transformers":
        return load_transformers(spec, runtime, random_weights)
    raise InspectorError(f"Model '{spec.id}' has unknown backend '{spec.backend}'.")


def load_for_role(
    model: str | ModelSpec, role: str, need: str, *, device: str, dtype: str, random_weights: bool = False
) -> LoadedModel:
    """Load ``model`` (registry id or spec) after checking it has ``role``; ``need`` ends the refusal
    ("defect types need a CLIP model").

    Raises:
        InspectorError: The model has another role.
        WeightsMissingError: Its weights are not on this station.
    """
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import get_spec

    spec = model if isinstance(model, ModelSpec) else get_spec(model)
    if spec.role != role:
        raise InspectorError(f"Model '{spec.id}' is a '{spec.role}' model; {need}.")
    return load_model(spec, make_runtime(device, dtype, spec.dtype), random_weights=random_weights)
