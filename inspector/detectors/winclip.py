"""WinCLIP (zero-shot) and WinCLIP+ (few-shot) on an open_clip ViT (Jeong et al., CVPR 2023).

What is computed, per image at the model's native input size (grid of ``h x w`` patches):

* **Text prototypes** (once per object name): every prompt of the compositional ensemble
  (:mod:`inspector.detectors.prompts`) is encoded and L2-normalised; each state's embeddings are
  averaged and normalised again, giving one normal and one anomalous prototype.
* **Image level**: the class-token embedding of the whole image; its zero-shot score is the
  softmax probability of "anomalous" over the two prototypes (Eq. 1), at the fixed temperature
  0.07 of the reference code (logits = cosine / 0.07). ``temperature="learned"`` uses the model's
  own learned logit scale instead (a deviation: up to 100, which makes the probabilities sharper).
* **Window level**: for each scale ``k`` (default 2 and 3 patches), every ``k x k`` window of the
  patch grid (stride 1) is encoded by running the ViT on the class token and *only* that window's
  tokens, taken after patch embedding + the full image's positional embedding + ``ln_pre``; the
  window's class-token output, projected into the joint space, is its embedding (as anomalib's
  WinCLIP does). Each patch position's score at a scale is the harmonic mean of the scores of the
  windows that contain it (Eq. 3); the zero-shot map is the harmonic mean over the image level and
  the window scales (as anomalib). The zero-shot image score is the class-token score.
* **WinCLIP+** (few-shot): the window embeddings of every scale and the full forward pass's patch
  tokens (after ``ln_post``, as open_clip returns them) of the good references form a memory per
  scale; a test window/patch scores ``(1 - max cosine similarity) / 2`` against the memory of the
  same scale (Eq. 4), windows are harmonically aggregated per position, the scales and the patch
  level are averaged into the few-shot map. Final map ``(M_zero + M_few) / 2``, image score
  ``(class-token score + max M_few) / 2``.
* **Map to pixels**: the patch-grid map is upsampled bilinearly to the input, then to the image
  (as the reference code); no smoothing by default. ``map_sigma`` adds a Gaussian blur of that
  many pixels at the input size (a deviation the paper does not have: smoother, less sharp maps).

Speed: the ViT runs on windows as short token sequences, in :mod:`inspector.detectors.vit_runtime`
(the hand-written runtime, kept apart from the algorithm here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector._torch import import_torch
from inspector.backbones.loading import LoadedModel
from inspector.core.types import AnomalyPrediction
from inspector.detectors.base import as_rgb_uint8, loaded_info, maps_to_image_size, preprocess
from inspector.detectors.prompts import PromptEnsemble, build_prompt_ensemble
from inspector.detectors.vit_runtime import WindowViT, encode_text
from inspector.errors import InspectorError

MAX_LOGIT_SCALE = 100.0
#: The softmax temperature of the reference implementation (anomalib's WinCLIP: "from the clip paper").
TEMPERATURE = 0.07
REFERENCE_BATCH = 8


# -- pure helpers (numpy) -------------------------------------------------------------------------
def harmonic_aggregation(window_scores: np.ndarray, windows: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Score each patch by the harmonic mean of the scores of the windows that contain it (Eq. 3).

    Args:
        window_scores: ``(B, n_windows)`` (or ``(n_windows,)``) scores in ``[0, 1]``.
        windows: ``(n_windows, patches_per_window)`` patch indices, as from :func:`window_indices`.
        grid: ``(h, w)`` of the patch grid.

    Returns:
        ``(B, h, w)`` float64 (or ``(h, w)`` for 1-d input). A window scoring 0 makes every patch
        it covers 0, the limit of the harmonic mean.
    """
    scores = np.asarray(window_scores, dtype=np.float64)
    single = scores.ndim == 1
    scores = scores[None] if single else scores
    windows = np.asarray(windows)
    h, w = int(grid[0]), int(grid[1])
    if scores.shape[1] != windows.shape[0]:
        raise ValueError(f"{scores.shape[1]} window scores for {windows.shape[0]} windows.")
    member = np.zeros((windows.shape[0], h * w), dtype=np.float64)
    member[np.arange(windows.shape[0])[:, None], windows] = 1.0
    counts = member.sum(axis=0)
    if np.any(counts == 0):
        raise ValueError("Some patches lie in no window: harmonic aggregation is undefined there.")
    inverse = 1.0 / np.maximum(scores, 1e-12)
    out = counts[None, :] / (inverse @ member)
    out = out.reshape(-1, h, w)
    return out[0] if single else out


def harmonic_mean(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise harmonic mean of equally shaped score maps."""
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in maps])
    return len(maps) / (1.0 / np.maximum(stack, 1e-12)).sum(axis=0)


@dataclass(frozen=True)
class WinClipEmbeddings:
    """The visual features WinCLIP scores, for a batch of ``B`` images (float32).

    Attributes:
        image: ``(B, E)`` class-token embeddings of the whole images (joint space).
        windows: Per scale ``k``: ``(B, n_windows, E)`` window embeddings (joint space), windows in
            the order of :func:`window_indices`.
        patches: ``(B, h * w, width)`` patch tokens of the full forward pass after ``ln_post``
            (WinCLIP+ only; None when not asked for).
    """

    image: Any
    windows: dict[int, Any]
    patches: Any = None


# -- the detector ---------------------------------------------------------------------------------
@dataclass
class _Memory:
    """WinCLIP+ reference memory: L2-normalised embeddings per scale (0 = patch level)."""

    embeddings: dict[int, Any]
    shots: int


class WinClipDetector:
    """WinCLIP (``few_shot=False``) or WinCLIP+ (``few_shot=True``, needs ``fit``).

    Args:
        loaded: An open_clip CLIP model with a ViT image encoder, from :func:`load_model`.
        object_name: The part's name in plain words, put into the prompt ensemble.
        scales: Window sizes in patches (the paper's small and mid scales: 2 and 3).
        few_shot: WinCLIP+: compare with the windows and patches of good reference images too.
        batch_windows: Windows per chunk of the window pass (None: about 2.5k tokens a chunk).
        extra_normal: More normal states for the prompt ensemble (``"{} with a smooth surface"``).
        extra_anomalous: More anomalous states (``"{} with a crack"``).
        temperature: Softmax temperature of the text scores: 0.07 (the reference code's, default),
            another number, or ``"learned"`` for the model's learned logit scale (deviation).
        map_sigma: Gaussian blur of the anomaly map in input pixels; 0 (the paper's, default) is none.
        prompt_set: ``"paper"`` (default) or ``"anomalib"`` template list (:mod:`~inspector.detectors.prompts`).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        object_name: str = "object",
        scales: Iterable[int] = (2, 3),
        few_shot: bool = False,
        batch_windows: int | None = None,
        extra_normal: Iterable[str] = (),
        extra_anomalous: Iterable[str] = (),
        temperature: float | str = TEMPERATURE,
        map_sigma: float = 0.0,
        prompt_set: str = "paper",
    ):
        torch = import_torch()
        scales = tuple(scales)
        self.scales = tuple(sorted({int(s) for s in scales}))
        if not self.scales or self.scales[0] < 1:
            raise InspectorError(f"WinCLIP window scales must be positive patch counts, got {scales}.")
        if batch_windows is not None and batch_windows < 1:
            raise InspectorError(f"batch_windows must be at least 1, got {batch_windows}.")
        if loaded.tokenizer is None or not hasattr(loaded.model, "encode_text"):
            raise InspectorError(f"Model '{loaded.spec.id}' is not a CLIP model (WinCLIP needs text).")
        self._loaded = loaded
        self._model = loaded.model
        try:
            self._vit = WindowViT(loaded.model.visual, self.scales, loaded.runtime)
        except ValueError as exc:
            raise InspectorError(f"WinCLIP on model '{loaded.spec.id}': {exc}") from exc
        self.few_shot = bool(few_shot)
        self.needs_references = self.few_shot
        self.batch_windows = batch_windows
        if temperature == "learned":
            with torch.inference_mode():
                scale = (
                    float(loaded.model.logit_scale.float().exp())
                    if hasattr(loaded.model, "logit_scale")
                    else MAX_LOGIT_SCALE
                )
            self.logit_scale = min(scale, MAX_LOGIT_SCALE)
        else:
            try:
                value = float(temperature)
            except (TypeError, ValueError):
                value = 0.0
            if not value > 0:
                raise InspectorError(
                    f"WinCLIP temperature must be a positive number or 'learned', got {temperature!r}."
                )
            self.logit_scale = 1.0 / value
        if not float(map_sigma) >= 0:
            raise InspectorError(f"WinCLIP map_sigma must be 0 or more pixels, got {map_sigma!r}.")
        self.map_sigma = float(map_sigma)
        self.prompt_set = prompt_set
        self._text_cache: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}
        self._memory: _Memory | None = None
        self._references: list[np.ndarray] = []
        self.encoder: Any = None  # OpenVINO image + window pass (batch 1), when that backend is used
        self._bare_encoder: Any = None  # OpenVINO plain image encoder, compiled for benchmarks on first use
        self.info = loaded_info(loaded, "winclip+" if self.few_shot else "winclip")
        self.set_prompts(object_name, extra_normal, extra_anomalous)

    # -- text side ----------------------------------------------------------------------------
    def set_prompts(
        self, object_name: str, extra_normal: Iterable[str] = (), extra_anomalous: Iterable[str] = ()
    ) -> PromptEnsemble:
        """Use the prompt ensemble of another object name (text prototypes are cached per ensemble)."""
        try:
            ensemble = build_prompt_ensemble(object_name, extra_normal, extra_anomalous, self.prompt_set)
        except ValueError as exc:
            raise InspectorError(str(exc)) from exc
        key = (tuple(ensemble.normal), tuple(ensemble.anomalous))
        if key not in self._text_cache:
            self._text_cache[key] = self._encode_prompts(ensemble)
        self.object_name = object_name
        self.prompts = ensemble
        self._text = self._text_cache[key]
        return ensemble

    def _encode_prompts(self, ensemble: PromptEnsemble):
        torch = import_torch()
        F = torch.nn.functional
        device = self._loaded.runtime.torch_device
        prototypes = []
        with torch.inference_mode():
            for prompts in (ensemble.normal, ensemble.anomalous):
                tokens = self._loaded.tokenizer(prompts).to(device)
                embeddings = F.normalize(encode_text(self._model, tokens).float(), dim=-1)
                prototypes.append(F.normalize(embeddings.mean(dim=0), dim=-1))
        return torch.stack(prototypes)  # (2, E): normal, anomalous

    @property
    def text_embeddings(self):
        """The (normal, anomalous) text prototypes, ``(2, E)`` float32 tensor."""
        return self._text

    # -- image side ---------------------------------------------------------------------------
    def _pixels(self, images: Sequence[np.ndarray]):
        spec = self._loaded.spec
        return preprocess(images, self._vit.image_size, spec.mean, spec.std, self._loaded.runtime, spec.interpolation)

    def _embed_openvino(self, x, patch_tokens: bool) -> WinClipEmbeddings:
        torch = import_torch()
        rows = [[torch.from_numpy(a) for a in self.encoder(x[i : i + 1].numpy())] for i in range(x.shape[0])]
        parts = [torch.cat(column) for column in zip(*rows, strict=True)]
        image, rest = parts[0], parts[1:]
        patches = rest.pop(0) if self.few_shot else None
        windows = dict(zip(self.scales, rest, strict=True))
        return WinClipEmbeddings(image=image, windows=windows, patches=patches if patch_tokens else None)

    def embed(self, images: Sequence[np.ndarray], patch_tokens: bool = False) -> WinClipEmbeddings:
        """Encode a batch: image, window (and optionally patch) embeddings as float32 tensors."""
        torch = import_torch()
        x = self._pixels(images)
        if self.encoder is not None:
            return self._embed_openvino(x, patch_tokens)
        with torch.inference_mode():
            tokens = self._vit.embed(x)
            qkv = self._vit.first_qkv(tokens)
            image, patches = self._vit.image_forward(tokens, qkv, patch_tokens)
            windows = {k: self._vit.window_forward(tokens, qkv, k, self.batch_windows).float() for k in self.scales}
        return WinClipEmbeddings(
            image=image.float(), windows=windows, patches=patches.float() if patches is not None else None
        )

    def encoder_forward(self, images: Sequence[np.ndarray]) -> None:
        """The bare image encoder on the batch (one full-image forward pass), for benchmarks."""
        torch = import_torch()
        x = self._pixels(images)
        if self.encoder is not None:
            if self._bare_encoder is None:
                from inspector.detectors.acceleration import compile_winclip

                self._bare_encoder = compile_winclip(
                    self, self.info.dtype if self.info.dtype != "int8" else "float32", bare=True
                )
            for i in range(x.shape[0]):
                self._bare_encoder(x[i : i + 1].numpy())
            return
        with torch.inference_mode():
            self._model.visual(x)

    # -- backend ------------------------------------------------------------------------------
    def use_openvino(self, precision: str = "float32", calibration_images: Sequence[np.ndarray] = ()) -> None:
        """Run the image and window pass through OpenVINO (self-checked against torch); refits WinCLIP+.

        ``precision``: ``float32``, ``bfloat16`` or ``int8`` (calibrated on ``calibration_images``; see
        :func:`inspector.detectors.acceleration.try_int8`). The text prototypes stay as they are.
        """
        from inspector.detectors.acceleration import compile_winclip

        self.encoder = compile_winclip(self, precision, calibration_images)
        self._bare_encoder = None
        self.info = dataclasses.replace(self.info, backend="openvino", dtype=precision)
        if self._references:
            self.fit(self._references)

    def use_torch(self) -> None:
        """Back to the torch image and window pass; refits WinCLIP+."""
        self.encoder = self._bare_encoder = None
        self.info = dataclasses.replace(self.info, backend="torch", dtype=self._loaded.runtime.dtype)
        if self._references:
            self.fit(self._references)

    # -- few-shot memory ----------------------------------------------------------------------
    def fit(self, references: Sequence[np.ndarray]) -> None:
        """Remember good reference images (WinCLIP+); a zero-shot WinCLIP ignores them."""
        if not self.few_shot:
            return
        torch = import_torch()
        F = torch.nn.functional
        references = [as_rgb_uint8(r) for r in references]
        if not references:
            raise InspectorError("WinCLIP+ needs at least one known-good reference image.")
        parts: dict[int, list] = {0: [], **{k: [] for k in self.scales}}
        for start in range(0, len(references), REFERENCE_BATCH):
            emb = self.embed(references[start : start + REFERENCE_BATCH], patch_tokens=True)
            parts[0].append(emb.patches.reshape(-1, emb.patches.shape[-1]))
            for k in self.scales:
                parts[k].append(emb.windows[k].reshape(-1, emb.windows[k].shape[-1]))
        memory = {k: F.normalize(torch.cat(v), dim=-1) for k, v in parts.items()}
        self._memory = _Memory(memory, len(references))
        self._references = list(references)
        self.info = dataclasses.replace(self.info, shots=len(references))

    # -- scoring --------------------------------------------------------------------------------
    def _anomaly_probability(self, embeddings):
        """Softmax P(anomalous) over the two text prototypes, for ``(..., E)`` embeddings."""
        torch = import_torch()
        e = torch.nn.functional.normalize(embeddings, dim=-1)
        logits = self.logit_scale * (e @ self._text.T)
        return logits.softmax(dim=-1)[..., 1]

    def _association(self, embeddings, scale: int):
        """WinCLIP+ Eq. 4: ``(1 - max cosine similarity to the memory) / 2`` per embedding."""
        torch = import_torch()
        e = torch.nn.functional.normalize(embeddings, dim=-1)
        assert self._memory is not None  # fitted before few-shot scoring
        similarity = (e @ self._memory.embeddings[scale].T).amax(dim=-1)
        return ((1.0 - similarity) / 2.0).clamp_(0.0, 1.0)

    def score_embeddings(self, emb: WinClipEmbeddings) -> tuple[np.ndarray, np.ndarray]:
        """Image scores ``(B,)`` and patch-grid anomaly maps ``(B, h, w)`` from embeddings."""
        grid = self._vit.grid
        b = emb.image.shape[0]
        image_scores = self._anomaly_probability(emb.image).double().cpu().numpy()
        zero_shot = [np.broadcast_to(image_scores[:, None, None], (b, *grid))]
        for k in self.scales:
            window_scores = self._anomaly_probability(emb.windows[k]).double().cpu().numpy()
            zero_shot.append(harmonic_aggregation(window_scores, self._vit.windows[k], grid))
        maps = harmonic_mean(zero_shot)
        if not self.few_shot:
            return image_scores, maps
        if self._memory is None:
            raise InspectorError("WinCLIP+ needs known-good reference images: call fit(references) first.")
        few_shot = [self._association(emb.patches, 0).double().cpu().numpy().reshape(b, *grid)]
        for k in self.scales:
            window_scores = self._association(emb.windows[k], k).double().cpu().numpy()
            few_shot.append(harmonic_aggregation(window_scores, self._vit.windows[k], grid))
        few_map = np.mean(few_shot, axis=0)
        return (image_scores + few_map.max(axis=(1, 2))) / 2.0, (maps + few_map) / 2.0

    def predict(self, images: Sequence[np.ndarray]) -> list[AnomalyPrediction]:
        """Score a batch of RGB uint8 images (any sizes); maps come back at each image's size."""
        images = [as_rgb_uint8(image) for image in images]
        if not images:
            return []
        if self.few_shot and self._memory is None:
            raise InspectorError("WinCLIP+ needs known-good reference images: call fit(references) first.")
        emb = self.embed(images, patch_tokens=self.few_shot)
        scores, maps = self.score_embeddings(emb)
        full = maps_to_image_size(maps.astype(np.float32), images, self._vit.image_size, self.map_sigma)
        random = self._loaded.random_weights
        unit = _unit_rows(emb.image)
        return [
            AnomalyPrediction(score=float(s), anomaly_map=np.clip(m, 0.0, 1.0), random_weights=random, embedding=e)
            for s, m, e in zip(scores, full, unit, strict=True)
        ]

    def image_embeddings(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit CLIP image embeddings ``(N, E)`` of whole images (the class token, as ``predict`` gives)."""
        images = [as_rgb_uint8(i) for i in images]
        rows = [
            _unit_rows(self.embed(images[s : s + REFERENCE_BATCH]).image)
            for s in range(0, len(images), REFERENCE_BATCH)
        ]
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def _unit_rows(embeddings) -> np.ndarray:
    """A ``(B, E)`` tensor of embeddings as unit-length float32 numpy rows."""
    torch = import_torch()
    return torch.nn.functional.normalize(embeddings.float(), dim=-1).cpu().numpy()
