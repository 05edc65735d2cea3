"""OpenVINO inference for the image encoders: convert, (optionally) quantise, cache, check.

A detector hands over the torch module whose forward it wants accelerated (DINOv2's last hidden
state, CLIP's image and window pass), an example input and the input shapes. This module

1. looks for the converted model in the on-disk cache, keyed by the weights' fingerprint, the
   graph's name, the input shapes, the precision, the calibration images (INT8) and the OpenVINO
   version; otherwise converts it (``openvino.convert_model``), quantises it to INT8 with NNCF where
   asked (post-training, calibrated on the given inputs, transformer preset), and stores it;
2. compiles it for the CPU with the precision hint (not OpenVINO's own compiled-blob cache: its
   bf16 blobs came back giving NaN outputs on the development machine);
3. runs a self-check: the compiled model and the torch module must agree on the check input
   within :data:`SELF_CHECK` (per output: max absolute error relative to the largest reference
   value, and the lowest cosine similarity of any row). A cached model that fails is rebuilt once;
   a freshly converted one that fails is refused (:class:`BackendCheckError`).

Torch and OpenVINO are imported lazily.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspector.errors import InspectorError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
PRECISIONS = ("float32", "bfloat16", "int8")
_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}


class BackendCheckError(InspectorError):
    """A compiled model disagrees with torch beyond the stated tolerance: it is not used."""


class BackendUnavailableError(InspectorError):
    """OpenVINO (or NNCF for INT8) is not installed or cannot build this model."""


@dataclass(frozen=True)
class Tolerance:
    """Self-check limits per output: ``max|ov - torch| / max|torch|`` and the lowest row cosine."""

    max_relative_error: float
    min_cosine: float


# fp32 must match torch to rounding (observed: 4e-6 absolute on DINOv2-small); bf16 and INT8 round
# activations / weights, so only the direction of each feature row is held tight.
SELF_CHECK = {
    "float32": Tolerance(1e-3, 0.9999),
    "bfloat16": Tolerance(0.1, 0.99),
    "int8": Tolerance(0.5, 0.95),
}


@dataclass(frozen=True)
class CheckResult:
    max_relative_error: float
    min_cosine: float

    def within(self, tolerance: Tolerance) -> bool:
        return self.max_relative_error <= tolerance.max_relative_error and self.min_cosine >= tolerance.min_cosine


def compare_outputs(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> CheckResult:
    """Worst relative error and worst row cosine over all outputs (rows: the last axis)."""
    if len(reference) != len(outputs):
        return CheckResult(float("inf"), -1.0)
    worst_err, worst_cos = 0.0, 1.0
    for ref, out in zip(reference, outputs, strict=True):
        ref = np.asarray(ref, dtype=np.float64)
        out = np.asarray(out, dtype=np.float64)
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            return CheckResult(float("inf"), -1.0)
        scale = max(float(np.abs(ref).max(initial=0.0)), 1e-12)
        worst_err = max(worst_err, float(np.abs(out - ref).max(initial=0.0)) / scale)
        r = ref.reshape(-1, ref.shape[-1]) if ref.ndim else ref.reshape(1, 1)
        o = out.reshape(-1, out.shape[-1]) if out.ndim else out.reshape(1, 1)
        norms = np.linalg.norm(r, axis=1) * np.linalg.norm(o, axis=1)
        cos = np.where(norms > 0, (r * o).sum(axis=1) / np.maximum(norms, 1e-300), 1.0)
        worst_cos = min(worst_cos, float(cos.min(initial=1.0)))
    return CheckResult(worst_err, worst_cos)


def weights_fingerprint(module) -> str:
    """SHA-256 over a module's parameter and buffer names, shapes, dtypes and values.

    Until the registry's weights fingerprint is recorded on every loaded model, this identifies the
    weights a compiled model was made from (about 1 s per GB).
    """
    from inspector._torch import import_torch

    torch = import_torch()
    digest = hashlib.sha256()
    with torch.inference_mode():
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def cache_dir() -> Path:
    """Converted models: ``INSPECTOR_OPENVINO_CACHE`` or ``<data folder>/openvino-cache``."""
    env = os.environ.get("INSPECTOR_OPENVINO_CACHE")
    if env:
        return Path(env).expanduser()
    from inspector.core.paths import data_dir

    return data_dir() / "openvino-cache"


def _hash_arrays(arrays: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CompileRequest:
    """What identifies one compiled model (everything that goes into its cache key)."""

    graph: str  # e.g. "dinov2-last-hidden", "winclip-windows-2-3"
    fingerprint: str  # the weights
    input_shapes: tuple[tuple[int, ...], ...]  # -1 for a dynamic dimension
    precision: str  # float32, bfloat16, int8
    calibration: str = ""  # hash of the INT8 calibration inputs

    def key(self) -> str:
        import openvino

        body = {
            "format": CACHE_FORMAT,
            "graph": self.graph,
            "fingerprint": self.fingerprint,
            "shapes": [list(s) for s in self.input_shapes],
            # the IR is the same for fp32 and bf16 (bf16 is a compile-time hint)
            "precision": "int8" if self.precision == "int8" else "float",
            "calibration": self.calibration if self.precision == "int8" else "",
            "openvino": openvino.__version__,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


class OpenVinoModel:
    """A compiled OpenVINO model: call it with numpy arrays, get a list of numpy arrays back."""

    backend = "openvino"

    def __init__(self, compiled, request: CompileRequest, from_cache: bool, check: CheckResult, path: Path):
        self._compiled = compiled
        self._lock = threading.Lock()  # one infer request: one caller at a time
        self._request = compiled.create_infer_request()
        self.request = request
        self.precision = request.precision
        self.from_cache = from_cache
        self.check = check
        self.path = path

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        with self._lock:
            result = self._request.infer(arrays)
            return [np.array(result[out]) for out in self._compiled.outputs]


def _convert(module, example_inputs: tuple, input_shapes):
    """torch module -> ``openvino.Model`` (a separate function so a test can break it on purpose)."""
    import openvino

    return openvino.convert_model(module, example_input=example_inputs, input=[list(s) for s in input_shapes])


def _quantize(model, calibration: Sequence[tuple[np.ndarray, ...]]):
    """NNCF post-training INT8 quantisation (transformer preset, calibrated on ``calibration``)."""
    try:
        import nncf
    except ImportError as exc:  # pragma: no cover - nncf is a runtime dependency
        raise BackendUnavailableError("INT8 needs the 'nncf' package; install it or use float precision.") from exc

    dataset = nncf.Dataset(list(calibration), lambda item: list(item))
    return nncf.quantize(
        model,
        dataset,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration),
        fast_bias_correction=True,
    )


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _compile(path: Path, precision: str, threads: int | None):
    import openvino

    core = openvino.Core()
    model = core.read_model(str(path))
    config = {
        "INFERENCE_NUM_THREADS": str(threads or _threads()),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": _HINTS[precision],
        # No CACHE_DIR: OpenVINO 2026.4's imported bf16 blobs gave NaN outputs here (caught by the
        # self-check); compiling the cached IR takes about a second.
    }
    return core.compile_model(model, "CPU", config)


def compile_module(
    module,
    example_inputs: tuple,
    *,
    graph: str,
    fingerprint: str,
    input_shapes: Sequence[Sequence[int]],
    precision: str = "float32",
    calibration: Sequence[tuple[np.ndarray, ...]] = (),
    check_inputs: tuple[np.ndarray, ...] | None = None,
    reference: Callable[..., Sequence[np.ndarray]] | None = None,
    cache: Path | None = None,
    threads: int | None = None,
) -> OpenVinoModel:
    """Convert (or load from the cache), compile and self-check ``module`` for OpenVINO's CPU runtime.

    Args:
        module: A torch ``nn.Module`` in fp32 whose ``forward(*example_inputs)`` returns a tensor or a
            tuple of tensors.
        example_inputs: Torch tensors for tracing.
        graph: Name of what is exported (part of the cache key).
        fingerprint: The weights' fingerprint (part of the cache key).
        input_shapes: One shape per input, ``-1`` for a dynamic dimension.
        precision: ``float32``, ``bfloat16`` (OpenVINO's bf16 hint) or ``int8`` (NNCF).
        calibration: INT8 calibration inputs, one tuple of numpy arrays per sample.
        check_inputs: Inputs of the self-check (default: the example inputs; INT8: the first
            calibration sample).
        reference: The torch outputs to check against (default: ``module`` itself).
        cache: Cache folder (default :func:`cache_dir`).

    Raises:
        BackendUnavailableError: OpenVINO is not installed or cannot convert the module.
        BackendCheckError: The compiled model disagrees with torch beyond :data:`SELF_CHECK`.
    """
    if precision not in PRECISIONS:
        raise InspectorError(f"Unknown OpenVINO precision '{precision}'; use one of {', '.join(PRECISIONS)}.")
    if not openvino_available():
        raise BackendUnavailableError(
            "The OpenVINO backend needs the 'openvino' package (pip install openvino); use --backend torch."
        )
    if precision == "int8" and not calibration:
        raise InspectorError("INT8 needs calibration images (the recipe's good parts).")
    from inspector._torch import import_torch

    torch = import_torch()
    shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
    request = CompileRequest(
        graph, fingerprint, shapes, precision, _hash_arrays([a for item in calibration for a in item])
    )
    folder = (cache or cache_dir()) / "models" / request.key()
    xml = folder / "model.xml"
    if check_inputs is None:
        check_inputs = (
            calibration[0] if precision == "int8" else tuple(t.detach().cpu().float().numpy() for t in example_inputs)
        )
    if reference is None:

        def reference(*arrays):
            with torch.inference_mode():
                out = module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))
            out = out if isinstance(out, (tuple, list)) else (out,)
            return [o.float().numpy() for o in out]

    expected = reference(*check_inputs)
    tolerance = SELF_CHECK[precision]
    for attempt in ("cache", "fresh"):
        from_cache = attempt == "cache" and xml.is_file()
        if attempt == "cache" and not from_cache:
            continue
        if not from_cache:
            float_xml = folder.parent / dataclasses.replace(request, precision="float32").key() / "model.xml"
            _build(module, example_inputs, shapes, precision, calibration, folder, float_xml)
        try:
            compiled = _compile(xml, precision, threads)
            model = OpenVinoModel(compiled, request, from_cache, CheckResult(float("inf"), -1.0), xml)
            result = compare_outputs(expected, model(*check_inputs))
        except RuntimeError as exc:  # a corrupt cached file fails to read or compile
            if from_cache:
                log.warning("Cached OpenVINO model %s cannot be used (%s); rebuilding it.", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            raise BackendUnavailableError(f"OpenVINO cannot compile '{graph}': {exc}") from exc
        model.check = result
        if result.within(tolerance):
            log.info(
                "OpenVINO %s (%s)%s: self-check max rel. error %.2e, min cosine %.6f.",
                graph,
                precision,
                " from cache" if from_cache else "",
                result.max_relative_error,
                result.min_cosine,
            )
            return model
        if from_cache:
            log.warning("Cached OpenVINO model %s fails the self-check; rebuilding it.", folder)
            shutil.rmtree(folder, ignore_errors=True)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        raise BackendCheckError(
            f"The OpenVINO {precision} model of '{graph}' disagrees with torch (max relative error "
            f"{result.max_relative_error:.3g}, allowed {tolerance.max_relative_error:g}; lowest cosine "
            f"{result.min_cosine:.6f}, required {tolerance.min_cosine:g}); it is not used. Run with --backend torch."
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _build(module, example_inputs, shapes, precision, calibration, folder: Path, float_xml: Path) -> None:
    """Convert (and quantise) into ``folder`` atomically (a half-written model is never read).

    INT8 starts from the cached float model where there is one (``float_xml``).
    """
    import openvino

    from inspector._torch import import_torch

    torch = import_torch()
    if precision == "int8" and float_xml.is_file():
        model = openvino.Core().read_model(str(float_xml))
    else:
        try:
            with torch.inference_mode(False), torch.no_grad():
                model = _convert(module, example_inputs, shapes)
        except Exception as exc:  # noqa: BLE001 - conversion errors come in many types
            raise BackendUnavailableError(f"OpenVINO cannot convert this model: {exc}") from exc
    if precision == "int8":
        model = _quantize(model, calibration)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        openvino.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def to_torch(arrays: Sequence[np.ndarray]) -> list[Any]:
    from inspector._torch import import_torch

    torch = import_torch()
    return [torch.from_numpy(a) for a in arrays]
