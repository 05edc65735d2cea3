"""Accept weights only once they load into the registry's architecture.

``inspector models import`` runs :func:`check_weights` on the staged copy before registering it:
wrong architecture, missing or extra tensors, wrong shapes, and empty or truncated files are each
refused with one message naming the problem (:class:`~inspector.errors.WeightsInvalidError`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from inspector._torch import import_torch
from inspector.core.fingerprint import weights_fingerprint
from inspector.core.registry import ModelSpec, transformers_weight_files
from inspector.core.weight_files import weights_problems
from inspector.errors import WeightsInvalidError

log = logging.getLogger(__name__)

# Tensors a correct open_clip checkpoint may lack or carry without being another model.
_OPEN_CLIP_OPTIONAL = {"logit_bias"}
_OPEN_CLIP_IGNORED = {"text.transformer.embeddings.position_ids"}


@dataclass(frozen=True)
class WeightsCheck:
    """Weights that loaded into the registered architecture."""

    model_id: str
    tensors: int
    fingerprint: str


def _refuse(spec: ModelSpec, source: Path | str, problem: str) -> WeightsInvalidError:
    return WeightsInvalidError(
        f"{source} cannot be used as '{spec.id}' ({spec.architecture}): {problem}. Nothing was registered."
    )


def _examples(keys: set[str], n: int = 3) -> str:
    shown = sorted(keys)[:n]
    return ", ".join(shown) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def check_weights(spec: ModelSpec, location: Path, source: Path | str | None = None) -> WeightsCheck:
    """Load the weights at ``location`` into ``spec``'s architecture; raise if they do not fit.

    Args:
        spec: The registry entry the weights are meant for.
        location: The weights file (open_clip) or model folder (transformers).
        source: What the user gave (named in messages); default ``location``.
    """
    source = source or location
    problems = weights_problems(spec, location)
    if problems:
        raise _refuse(spec, source, "; ".join(problems))
    if spec.backend == "open_clip":
        n = _check_open_clip(spec, location, source)
        files = [location]
    elif spec.backend == "transformers":
        n = _check_transformers(spec, location, source)
        files = [location / "config.json", *transformers_weight_files(location)]
    else:
        raise _refuse(spec, source, f"the registry's backend '{spec.backend}' is unknown")
    return WeightsCheck(spec.id, n, weights_fingerprint(files))


def _foreign_config(source: Path | str) -> str:
    """A hint when the file given for an open_clip model comes from a transformers model folder."""
    given = Path(source)
    config = (given if given.is_dir() else given.parent) / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return ""
    return f" (config.json beside it says model_type '{model_type}')" if model_type else ""


def _check_open_clip(spec: ModelSpec, location: Path, source: Path | str) -> int:
    torch = import_torch()
    import open_clip
    from open_clip.factory import load_state_dict

    try:
        state = load_state_dict(str(location))
    except Exception as exc:  # noqa: BLE001 - unreadable in any way: say so plainly
        raise _refuse(spec, source, f"{location.name} cannot be read as a checkpoint ({_first_line(exc)})") from exc
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip warns that no weights were loaded: none are meant to be, yet
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            model = open_clip.create_model(spec.architecture, pretrained=None, device="meta", **spec.open_clip_kwargs)
    finally:
        root.setLevel(level)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape") and k not in _OPEN_CLIP_IGNORED}
    missing = set(expected) - set(found) - _OPEN_CLIP_OPTIONAL
    extra = set(found) - set(expected)
    if missing and len(missing) == len(set(expected) - _OPEN_CLIP_OPTIONAL):
        raise _refuse(
            spec,
            source,
            f"{location.name} holds none of the architecture's {len(expected)} tensors: it is another model"
            f"{_foreign_config(source)} (it holds e.g. {_examples(extra)})",
        )
    _refuse_differences(spec, source, location.name, expected, found, missing, extra)
    try:
        model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False, assign=True)
    except Exception as exc:  # noqa: BLE001
        raise _refuse(spec, source, f"loading failed: {_first_line(exc)}") from exc
    return len(found)


def _refuse_differences(spec, source, name, expected, found, missing, extra) -> None:
    if missing:
        raise _refuse(spec, source, f"{name} lacks {len(missing)} of its tensors ({_examples(missing)})")
    if extra:
        raise _refuse(spec, source, f"{name} has {len(extra)} tensors the architecture does not ({_examples(extra)})")
    wrong = {k for k in expected if k in found and found[k] != expected[k]}
    if wrong:
        k = sorted(wrong)[0]
        raise _refuse(
            spec,
            source,
            f"{len(wrong)} tensors have the wrong shape (e.g. {k}: {list(found[k])} where the architecture "
            f"has {list(expected[k])})",
        )


def _check_transformers(spec: ModelSpec, folder: Path, source: Path | str) -> int:
    import_torch()
    from inspector.backbones.loading import _transformers_classes, hub_architecture

    model_cls, config_cls = _transformers_classes(spec)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _refuse(spec, source, f"config.json is not readable ({exc})") from exc
    if not isinstance(config, dict):
        raise _refuse(spec, source, "config.json does not hold a model configuration")
    want_type = getattr(config_cls, "model_type", "") if config_cls is not None else ""
    if want_type and config.get("model_type") != want_type:
        raise _refuse(
            spec,
            source,
            f"config.json says model_type '{config.get('model_type')}', but this model is a '{want_type}'",
        )
    expected = hub_architecture(spec)
    wrong = {k: (config.get(k), v) for k, v in expected.items() if config.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k} {got} (needs {need})" for k, (got, need) in sorted(wrong.items()))
        raise _refuse(spec, source, f"config.json describes another size of this architecture: {detail}")
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            model, info = model_cls.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
    except Exception as exc:  # noqa: BLE001 - unreadable, wrong shapes...: one plain message
        text = _first_line(exc)
        if "mismatched_sizes" in text or "size mismatch" in text:
            text = "some tensors have the wrong shape for the architecture config.json describes"
        raise _refuse(spec, source, text) from exc
    finally:
        transformers.logging.set_verbosity(level)
    missing = set(info.get("missing_keys") or ())
    extra = set(info.get("unexpected_keys") or ())
    mismatched = info.get("mismatched_keys") or ()
    if missing:
        raise _refuse(spec, source, f"the weights lack {len(missing)} tensors ({_examples(missing)})")
    if extra:
        raise _refuse(
            spec, source, f"the weights have {len(extra)} tensors the architecture does not ({_examples(extra)})"
        )
    if mismatched:
        raise _refuse(spec, source, f"{len(mismatched)} tensors have the wrong shape")
    return sum(1 for _ in model.state_dict())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
