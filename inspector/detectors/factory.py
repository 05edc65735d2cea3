"""Build a detector from a recipe (or from command-line choices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inspector.backbones.loading import load_model
from inspector.backbones.runtime import Runtime, make_runtime, set_cpu_threads
from inspector.core.detector_table import detector_kind
from inspector.core.model_fit import ROLES, model_fit_problem
from inspector.core.precision import BACKENDS
from inspector.core.recipe import Recipe
from inspector.core.registry import ModelSpec, get_spec
from inspector.detectors.acceleration import auto_backend
from inspector.detectors.base import Detector
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.detectors.anomalydino import AnomalyDinoDetector
    from inspector.detectors.winclip import WinClipDetector

__all__ = ["ROLES", "create_detector", "detector_for_recipe"]


def create_detector(
    name: str,
    *,
    model: str | ModelSpec = "",
    object_name: str = "object",
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    extra_normal: Sequence[str] = (),
    extra_anomalous: Sequence[str] = (),
    params: dict[str, Any] | None = None,
    backend: str = "torch",
) -> Detector:
    """Load the backbone and build the named detector.

    Args:
        name: ``winclip``, ``winclip+``, ``anomalydino`` or a trained method (``memory``, ``simplenet``,
            ``promptad``, ``student``; with ``params["artifact"]`` it is loaded trained, else it trains
            on the references given to ``fit``).
        model: Registry id or spec; empty means the detector's default backbone.
        object_name: The part's name, for WinCLIP's prompts.
        device: ``auto``, ``cpu``, ``cuda``...
        dtype: ``auto`` (measured per machine), ``float32``, ``bfloat16``, ``float16``.
        random_weights: Build the architecture with random weights (tests and benchmarks only).
        params: Detector-specific options.
        backend: Inference runtime of the image encoder on a CPU: ``torch``, ``openvino`` (in the
            chosen dtype, self-checked against torch) or ``auto`` (measured once per machine and
            model, remembered; torch for random-weight builds). On a GPU the encoder always runs in torch.

    Raises:
        WeightsMissingError: The backbone's weights are not on this station.
    """
    kind = detector_kind(name)
    spec = model if isinstance(model, ModelSpec) else get_spec(model or kind.default_model)
    problem = model_fit_problem(name, spec)
    if problem:
        raise InspectorError(problem)
    if backend not in BACKENDS:
        raise InspectorError(f"Unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
    runtime = make_runtime(device, dtype, spec.dtype)
    if runtime.device == "cpu":
        set_cpu_threads()
    else:
        backend = "torch"
    if backend == "auto" and random_weights:
        # Random-weight builds are for tests and demos: no conversion and timing at every start-up
        # (benchmarks name their backend explicitly).
        backend = "torch"
    params = dict(params or {})
    if kind.trained:
        from inspector.detectors.trained import build_trained

        return build_trained(
            name,
            spec,
            runtime,
            random_weights=random_weights,
            object_name=object_name,
            extra_normal=tuple(extra_normal),
            extra_anomalous=tuple(extra_anomalous),
            params=params,
        )
    tiling = params.pop("tiling", None)
    if tiling is not None:
        from inspector.detectors.tiling import TiledDetector, TilingOptions

        options = TilingOptions.from_dict(tiling) if isinstance(tiling, dict) else None
        if options is None:
            raise InspectorError("The recipe's 'tiling' option must be an object, e.g. {\"grid\": [4, 3]}.")

        def wrap(detector):
            return TiledDetector(detector, options)
    else:

        def wrap(detector):
            return detector

    def build(loaded) -> AnomalyDinoDetector | WinClipDetector:
        if name == "anomalydino":
            from inspector.detectors.anomalydino import AnomalyDinoDetector

            return AnomalyDinoDetector(loaded, **params)
        from inspector.detectors.winclip import WinClipDetector

        return WinClipDetector(
            loaded,
            object_name=object_name,
            few_shot=name == "winclip+",
            extra_normal=tuple(extra_normal),
            extra_anomalous=tuple(extra_anomalous),
            **params,
        )

    if backend == "torch":
        return wrap(build(load_model(spec, runtime, random_weights=random_weights)))
    loaded = load_model(spec, Runtime("cpu", "float32"), random_weights=random_weights)
    if backend == "auto":
        graph = f"{name}:{spec.id}:{sorted(params.items())}"
        return wrap(auto_backend(loaded, runtime.dtype, build, graph))
    detector = build(loaded)
    detector.use_openvino(runtime.dtype)
    return wrap(detector)


def detector_for_recipe(
    recipe: Recipe,
    *,
    device: str = "auto",
    dtype: str = "auto",
    random_weights: bool = False,
    backend: str = "torch",
) -> Detector:
    """Build (but do not fit) the recipe's detector."""
    return create_detector(
        recipe.detector,
        backend=backend,
        model=recipe.model_id,
        object_name=recipe.object_name,
        device=device,
        dtype=dtype,
        random_weights=random_weights,
        extra_normal=recipe.extra_normal,
        extra_anomalous=recipe.extra_anomalous,
        params=recipe.detector_params,
    )
