"""Choosing and checking the inference backend of a detector's image encoder.

* :func:`compile_dino` / :func:`compile_winclip`: the graph each detector exports to OpenVINO.
* :func:`try_int8`: INT8 only where maps and scores on the recipe's good parts agree with the float
  model within :class:`Int8Gate` (otherwise the detector stays as it was).
* :func:`auto_backend`: ``--backend auto`` measures torch against OpenVINO once per machine, model and
  precision, and remembers the faster (:mod:`inspector.backbones.backend_choice`).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.backbones.machine import median_seconds
from inspector.core.types import AnomalyPrediction
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_fingerprint(loaded) -> str:
    """The loaded weights' fingerprint (the registry's when recorded, else computed once per model)."""
    recorded = getattr(loaded, "fingerprint", None)
    if isinstance(recorded, str) and recorded.startswith("sha256:"):
        return recorded
    if isinstance(recorded, str) and recorded.startswith("random:"):
        # seeded random weights: the seed and the architecture name them
        import hashlib
        import json

        spec = loaded.spec
        arch = json.dumps([spec.id, spec.architecture, spec.config], sort_keys=True, default=str)
        return f"{recorded}:{hashlib.sha256(arch.encode()).hexdigest()[:16]}"
    model = loaded.model
    if model not in _FINGERPRINTS:
        from inspector.backbones.openvino_backend import weights_fingerprint

        _FINGERPRINTS[model] = weights_fingerprint(model)
    return _FINGERPRINTS[model]


def _require_fp32_cpu(loaded) -> None:
    if loaded.runtime.device != "cpu" or loaded.runtime.dtype != "float32":
        raise InspectorError(
            "The OpenVINO backend converts the fp32 CPU model; this one is on "
            f"{loaded.runtime.device}/{loaded.runtime.dtype}."
        )


def _calibration(pixels_of, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    return [(pixels_of([image]).numpy(),) for image in images]


# -- AnomalyDINO ----------------------------------------------------------------------------------
def _dino_graph(model):
    from inspector._torch import import_torch

    torch = import_torch()

    class DinoLastHidden(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        """DINOv2's last hidden state (after the final layer norm), all tokens."""

        def __init__(self, dino):
            super().__init__()
            self.dino = dino

        def forward(self, pixel_values):
            return self.dino(pixel_values=pixel_values).last_hidden_state

    return DinoLastHidden(model).eval()


def compile_dino(detector, precision: str, calibration_images: Sequence[np.ndarray] = ()):
    """The DINOv2 forward of an AnomalyDINO detector as a checked OpenVINO model (dynamic batch)."""
    from inspector._torch import import_torch
    from inspector.backbones.openvino_backend import compile_module

    torch = import_torch()
    loaded = detector.loaded
    _require_fp32_cpu(loaded)
    r = detector.resolution
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(1, 3, r, r, generator=gen)
    return compile_module(
        _dino_graph(loaded.model),
        (example,),
        graph=f"dinov2-last-hidden/{loaded.spec.id}",
        fingerprint=model_fingerprint(loaded),
        input_shapes=[(-1, 3, r, r)],
        precision=precision,
        calibration=_calibration(detector._pixels, calibration_images) if precision == "int8" else (),
    )


# -- INT8 gate ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Int8Gate:
    """INT8 is used only if, on the good parts, every map's Pearson correlation with the float
    model's map is at least ``min_map_pearson`` and no image score moves more than ``max_score_diff``."""

    min_map_pearson: float = 0.99
    max_score_diff: float = 0.01


@dataclass(frozen=True)
class Int8Report:
    accepted: bool
    map_pearson: float  # lowest over the good parts
    score_diff: float  # largest absolute difference over the good parts
    images: int
    gate: Int8Gate
    reason: str = ""
    float_s: float | None = None  # seconds per good part, float model (the same calls that were compared)
    int8_s: float | None = None  # seconds per good part, INT8

    def describe(self) -> str:
        verdict = "INT8 accepted" if self.accepted else "INT8 refused"
        text = (
            f"{verdict}: lowest map Pearson {self.map_pearson:.4f} (needs >= {self.gate.min_map_pearson:g}), "
            f"largest score difference {self.score_diff:.4g} (allowed {self.gate.max_score_diff:g}) "
            f"on {self.images} good part(s)"
        )
        text = f"{text}; {self.reason}" if self.reason else text
        return f"{text}. {self.speed()}" if self.speed() else text

    def speed(self) -> str:
        """The speeds measured during the check (told, never decided on: one check's timing is noisy)."""
        if not self.float_s or not self.int8_s:
            return ""
        text = f"Measured {self.int8_s:.3g} s per part in INT8 against {self.float_s:.3g} s in fp32"
        if self.int8_s < self.float_s:
            return f"{text} ({self.float_s / self.int8_s:.1f}x faster)"
        return f"{text}: INT8 is not faster on this CPU (inspector bench --dtype int8 measures it properly)"


def agreement(base: Sequence[AnomalyPrediction], trial: Sequence[AnomalyPrediction]) -> tuple[float, float]:
    """(lowest map Pearson, largest score difference) between two predictions of the same images.

    A map that is constant in either prediction has no correlation: it counts as 0.
    """
    pearsons, diffs = [], []
    for a, b in zip(base, trial, strict=True):
        x = np.asarray(a.anomaly_map, dtype=np.float64).ravel()
        y = np.asarray(b.anomaly_map, dtype=np.float64).ravel()
        if x.std() == 0 or y.std() == 0:
            pearsons.append(1.0 if np.array_equal(x, y) else 0.0)
        else:
            pearsons.append(float(np.corrcoef(x, y)[0, 1]))
        diffs.append(abs(float(a.score) - float(b.score)))
    return min(pearsons, default=0.0), max(diffs, default=float("inf"))


def measure_int8(detector, good_images: Sequence[np.ndarray], gate: Int8Gate | None = None) -> Int8Report:
    """Switch ``detector`` (already fitted) to INT8 and measure its agreement with its float self.

    The INT8 model is calibrated on the detector's references plus ``good_images`` (the recipe's
    good parts) and compared on ``good_images``. Held-out good parts are needed: a few-shot detector
    scores its own references as ~0, where no agreement can be measured. The detector is left on
    INT8 whatever the outcome (:func:`try_int8` goes back when refused).
    """
    gate = gate or Int8Gate()
    good = list(good_images)
    if not good:
        raise InspectorError("INT8 needs held-out good parts to check it against the float model.")
    base, float_s = _timed_predict(detector, good)
    calibration = list(getattr(detector, "_references", []) or []) + good
    detector.use_openvino("int8", calibration_images=calibration)
    trial, int8_s = _timed_predict(detector, good)
    pearson, diff = agreement(base, trial)
    accepted = pearson >= gate.min_map_pearson and diff <= gate.max_score_diff
    return Int8Report(accepted, pearson, diff, len(good), gate, float_s=float_s, int8_s=int8_s)


def _timed_predict(detector, images: Sequence[np.ndarray]) -> tuple[list[AnomalyPrediction], float]:
    """Predictions one image at a time and the median seconds per image (the first call is a warm-up)."""
    import statistics
    import time

    out, times = [], []
    for image in images:
        start = time.perf_counter()
        out.extend(detector.predict([image]))
        times.append(time.perf_counter() - start)
    return out, statistics.median(times[1:] or times)


def try_int8(detector, good_images: Sequence[np.ndarray], gate: Int8Gate | None = None) -> Int8Report:
    """INT8 only where it agrees with the float model on the good parts (see :func:`measure_int8`).

    When refused, the detector goes back to the backend and precision it had.
    """
    backend, dtype = detector.info.backend, detector.info.dtype
    report = measure_int8(detector, good_images, gate)
    if not report.accepted:
        if backend == "openvino":
            detector.use_openvino(dtype)
        else:
            detector.use_torch()
        report = dataclasses.replace(report, reason=f"staying on {backend} {dtype}")
        log.warning("%s.", report.describe())
    else:
        log.info("%s.", report.describe())
    return report


# -- --backend auto -------------------------------------------------------------------------------
def cast_loaded(loaded, dtype: str):
    """A copy of a loaded fp32 CPU model in ``dtype`` (the torch path)."""
    from inspector.backbones.runtime import Runtime

    if dtype == loaded.runtime.dtype:
        return loaded
    runtime = Runtime(loaded.runtime.device, dtype)
    model = copy.deepcopy(loaded.model).to(dtype=runtime.torch_dtype)
    # the same weights in another dtype: everything else (fingerprint, tokenizer) carries over
    return dataclasses.replace(loaded, model=model, runtime=runtime)


def auto_backend(loaded, dtype: str, build: Callable[[Any], Any], graph: str):
    """Build the detector on the faster backend for this machine, model and ``dtype``.

    ``loaded`` is the fp32 CPU model, ``build(loaded)`` makes the detector. The first time on a
    machine, both backends score one synthetic image at the model's resolution (median of 3 after a
    warm-up); the winner is remembered in ``<data folder>/backend-choice.json``. OpenVINO that is not
    installed or fails its self-check means torch (not remembered, with a warning).
    """
    from inspector.backbones import backend_choice
    from inspector.backbones.openvino_backend import BackendCheckError, BackendUnavailableError, openvino_available

    if not openvino_available():
        log.info("OpenVINO is not installed: the torch backend is used.")
        return build(cast_loaded(loaded, dtype))
    key = backend_choice.choice_key(model_fingerprint(loaded), graph, dtype)
    remembered = backend_choice.recall(key)
    if remembered == "torch":
        return build(cast_loaded(loaded, dtype))
    if remembered == "openvino":
        detector = build(loaded)
        try:
            detector.use_openvino(dtype)
            return detector
        except (BackendCheckError, BackendUnavailableError) as exc:
            log.warning("%s Using the torch backend.", exc)
            return build(cast_loaded(loaded, dtype))
    torch_detector = build(cast_loaded(loaded, dtype))
    size = int(getattr(torch_detector, "resolution", 0) or getattr(loaded.spec, "input_size", 224))
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    if torch_detector.needs_references:
        torch_detector.fit([image])
    torch_s = median_seconds(lambda: torch_detector.predict([image]), 3, warmup=True)
    torch_detector = None
    detector = build(loaded)
    try:
        detector.use_openvino(dtype)
    except (BackendCheckError, BackendUnavailableError) as exc:
        log.warning("%s Using the torch backend.", exc)
        return build(cast_loaded(loaded, dtype))
    if detector.needs_references:
        detector.fit([image])
    ov_s = median_seconds(lambda: detector.predict([image]), 3, warmup=True)
    choice = "openvino" if ov_s < torch_s else "torch"
    backend_choice.remember(key, choice, {"torch": torch_s, "openvino": ov_s})
    log.info("Backend for %s %s: %s (torch %.3f s, OpenVINO %.3f s per image).", graph, dtype, choice, torch_s, ov_s)
    del detector  # fitted on the synthetic image: build a clean one (the compiled model is cached)
    if choice == "torch":
        return build(cast_loaded(loaded, dtype))
    detector = build(loaded)
    detector.use_openvino(dtype)
    return detector


# -- WinCLIP --------------------------------------------------------------------------------------
def _winclip_graph(visual, scales: Sequence[int], patch_tokens: bool):
    """CLIP's image pass *and* WinCLIP's window pass for one image, as one traceable module.

    Outputs: the class-token embedding ``(1, E)``, the patch tokens after ``ln_post`` (WinCLIP+
    only), then the window embeddings ``(1, n_windows, E)`` per scale: the same computation as the
    torch path (:class:`~inspector.detectors.winclip.WindowViT`), without oneDNN's prepacked
    kernels, all windows of a scale in one chunk.
    """
    from inspector._torch import import_torch
    from inspector.detectors.vit_runtime import WindowViT

    torch = import_torch()

    class WinClipVisual(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self):
            super().__init__()
            self.visual = visual
            self.vit = WindowViT(visual, scales, None, packed=False)

        def forward(self, x):
            vit = self.vit
            tokens = vit.embed(x)
            qkv = vit.first_qkv(tokens)
            image, patches = vit.image_forward(tokens, qkv, patch_tokens)
            windows = [vit.window_forward(tokens, qkv, k, len(vit.windows[k])) for k in vit.windows]
            return (image, patches, *windows) if patch_tokens else (image, *windows)

    return WinClipVisual().eval()


def _clip_visual_graph(visual):
    """open_clip's plain image encoder (the bare encoder pass ``inspector bench`` compares with)."""
    from inspector._torch import import_torch

    torch = import_torch()

    class ClipVisual(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self):
            super().__init__()
            self.visual = visual

        def forward(self, x):
            out = self.visual(x)
            return out[0] if isinstance(out, tuple) else out

    return ClipVisual().eval()


def compile_winclip(detector, precision: str, calibration_images: Sequence[np.ndarray] = (), bare: bool = False):
    """WinCLIP's image + window pass (or, with ``bare``, the plain image encoder) for OpenVINO, batch 1."""
    from inspector._torch import import_torch
    from inspector.backbones.openvino_backend import compile_module

    torch = import_torch()
    loaded = detector._loaded
    _require_fp32_cpu(loaded)
    h, w = detector._vit.image_size
    example = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    if bare:
        module, graph = _clip_visual_graph(loaded.model.visual), f"clip-visual/{loaded.spec.id}"
    else:
        module = _winclip_graph(loaded.model.visual, detector.scales, detector.few_shot)
        graph = f"winclip-{'plus' if detector.few_shot else 'zero'}-{'-'.join(map(str, detector.scales))}"
        graph += f"/{loaded.spec.id}"
    return compile_module(
        module,
        (example,),
        graph=graph,
        fingerprint=model_fingerprint(loaded),
        input_shapes=[(1, 3, h, w)],
        precision=precision,
        calibration=_calibration(detector._pixels, calibration_images) if precision == "int8" else (),
    )
