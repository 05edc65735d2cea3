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

Speed: the windows are run batched as *short sequences* (5 tokens for 2x2 windows, 10 for 3x3),
in chunks; patch embedding, positional embedding, ``ln_pre`` and the first block's LayerNorm and
QKV projection are computed once per token and gathered; the last block runs attention, the output
projection and the MLP for the class token only (the only output used).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector._torch import import_torch
from inspector.backbones.loading import LoadedModel
from inspector.core.types import AnomalyPrediction, DetectorInfo
from inspector.detectors.base import as_rgb_uint8, maps_to_image_size, preprocess
from inspector.detectors.prompts import PromptEnsemble, build_prompt_ensemble
from inspector.errors import InspectorError

# Tokens per chunk of windows when ``batch_windows`` is not given: large enough for efficient
# matrix products, small enough for the activations to stay in cache (measured on a 2-core AMX CPU).
CHUNK_TOKENS = 2560
MAX_LOGIT_SCALE = 100.0
#: The softmax temperature of the reference implementation (anomalib's WinCLIP: "from the clip paper").
TEMPERATURE = 0.07
REFERENCE_BATCH = 8


# -- pure helpers (numpy) -------------------------------------------------------------------------
def window_indices(grid: tuple[int, int], k: int) -> np.ndarray:
    """Patch indices (row-major in the grid) of every ``k x k`` window with stride 1.

    Returns an ``(n_windows, k * k)`` int64 array; windows are ordered row-major by their top-left
    patch, the patches inside a window row-major too.
    """
    h, w = int(grid[0]), int(grid[1])
    if k < 1 or k > h or k > w:
        raise ValueError(f"A {k}x{k} window does not fit a {h}x{w} patch grid.")
    top = np.arange(h - k + 1)[:, None] * w + np.arange(w - k + 1)[None, :]
    offsets = (np.arange(k)[:, None] * w + np.arange(k)[None, :]).reshape(-1)
    return (top.reshape(-1, 1) + offsets[None, :]).astype(np.int64)


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


# -- the ViT, run on the whole image and on windows -------------------------------------------
def _attention(q, k, v, heads: int):
    torch = import_torch()
    n, lq, d = q.shape
    q = q.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    k = k.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    v = v.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(n, lq, d)


def _linear_shapes(resblocks) -> tuple[tuple[int, int], ...]:
    """(in, out) features of every distinct linear layer of the ViT's blocks (QKV, out, MLP)."""
    shapes = []
    for block in resblocks:
        if not _Block.supports(block):
            continue
        attn, mlp = block.attn, block.mlp
        for weight in (attn.in_proj_weight, attn.out_proj.weight, mlp.c_fc.weight, mlp.c_proj.weight):
            shape = (int(weight.shape[1]), int(weight.shape[0]))
            if shape not in shapes:
                shapes.append(shape)
    return tuple(shapes)


@functools.cache
def _onednn_linear_works(dtype_name: str, shapes: tuple[tuple[int, int], ...] = ((64, 96),)) -> bool:
    """Whether oneDNN's prepacked linear (+GELU, +residual) runs here and matches ``F.linear``.

    Checked once per process for the model's own layer shapes (``(in, out)`` features, see
    :func:`_linear_shapes`) and dtype, with weights packed for the chunk size the window pass uses:
    a kernel that misbehaves for one shape or for bf16 (e.g. on AMX) falls back to ``F.linear``.
    These are the kernels torch's own CPU compiler (inductor) emits for linear layers; eager torch
    reorders the weight for every call and runs bias, GELU and the residual add as extra passes.
    """
    torch = import_torch()
    try:
        if not torch.backends.mkldnn.is_available() or not shapes:
            return False
        mk = torch.ops.mkldnn
        dtype = getattr(torch, dtype_name)
        gen = torch.Generator().manual_seed(0)
        tol = 1e-4 if dtype == torch.float32 else 1.6e-2  # relative to the largest output (bf16: 8 bits)
        for n_in, n_out in shapes:
            x = torch.randn(3, 37, n_in, generator=gen).to(dtype)  # 111 rows: not a multiple of any block
            w = (torch.randn(n_out, n_in, generator=gen) / n_in**0.5).to(dtype)
            b = torch.randn(n_out, generator=gen).to(dtype)
            r = torch.randn(3, 37, n_out, generator=gen).to(dtype)
            packed = mk._reorder_linear_weight(w, CHUNK_TOKENS)
            with torch.inference_mode():
                ref = torch.nn.functional.linear(x.float(), w.float(), b.float())
                checks = (
                    (mk._linear_pointwise(x, packed, b, "none", [], ""), ref),
                    (mk._linear_pointwise(x, packed, b, "gelu", [], "none"), torch.nn.functional.gelu(ref)),
                    (mk._linear_pointwise.binary(x, r, packed, b, "add"), ref + r.float()),
                )
            for out, want in checks:
                if out.shape != want.shape or out.dtype != dtype:
                    return False
                if float((out.float() - want).abs().max()) > tol * float(want.abs().max()):
                    return False
        return True
    except (AttributeError, RuntimeError, TypeError):
        return False


class _Linear:
    """A linear layer; through oneDNN with a prepacked weight and fused epilogue when ``packed``."""

    def __init__(self, weight, bias, packed: bool):
        self.weight, self.bias = weight, bias
        self.packed = None
        if packed:
            torch = import_torch()
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), CHUNK_TOKENS)

    def __call__(self, x, gelu: bool = False, residual=None):
        torch = import_torch()
        if self.packed is not None:
            mk = torch.ops.mkldnn
            x = x.contiguous()
            if residual is not None:
                return mk._linear_pointwise.binary(x, residual.contiguous(), self.packed, self.bias, "add")
            if gelu:
                return mk._linear_pointwise(x, self.packed, self.bias, "gelu", [], "none")
            return mk._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        y = torch.nn.functional.linear(x, self.weight, self.bias)
        if gelu:
            y = torch.nn.functional.gelu(y)
        return y if residual is None else residual + y


class _Block:
    """One standard open_clip ``ResidualAttentionBlock`` (LN, multi-head attention, LN, MLP)."""

    def __init__(self, block, packed: bool, last: bool = False):
        torch = import_torch()
        nn = torch.nn
        attn = block.attn
        d = attn.embed_dim
        w, b = attn.in_proj_weight, attn.in_proj_bias
        self.ln_1, self.ln_2, self.heads = block.ln_1, block.ln_2, attn.num_heads
        self.qkv = _Linear(w, b, packed)
        # Separate query / key-value projections, for a last block that runs the class token only.
        self.q = _Linear(w[:d], None if b is None else b[:d], packed and last)
        self.kv = _Linear(w[d:], None if b is None else b[d:], packed and last)
        self.out = _Linear(attn.out_proj.weight, attn.out_proj.bias, packed)
        self.fc1 = _Linear(block.mlp.c_fc.weight, block.mlp.c_fc.bias, packed)
        self.fc2 = _Linear(block.mlp.c_proj.weight, block.mlp.c_proj.bias, packed)
        self.act = block.mlp.gelu
        self.exact_gelu = type(self.act) is nn.GELU and self.act.approximate == "none"
        self.ls_1, self.ls_2 = block.ls_1, block.ls_2
        self.plain_residual = isinstance(self.ls_1, nn.Identity) and isinstance(self.ls_2, nn.Identity)

    @staticmethod
    def supports(block) -> bool:
        torch = import_torch()
        attn, mlp = getattr(block, "attn", None), getattr(block, "mlp", None)
        return (
            isinstance(attn, torch.nn.MultiheadAttention)
            and attn._qkv_same_embed_dim
            and attn.batch_first
            and attn.bias_k is None
            and not attn.add_zero_attn
            and not hasattr(block, "ln_1_kv")
            and hasattr(block, "ln_1")
            and hasattr(block, "ln_2")
            and mlp is not None
            and [n for n, _ in mlp.named_children()] == ["c_fc", "gelu", "c_proj"]
            and isinstance(mlp.c_fc, torch.nn.Linear)
            and isinstance(mlp.c_proj, torch.nn.Linear)
        )

    def _residual(self, linear: _Linear, h, x, scale):
        if self.plain_residual:
            return linear(h, residual=x)
        return x + scale(linear(h))

    def __call__(self, x, qkv=None, cls_only: bool = False):
        """``x`` (N, L, D) -> (N, L, D), or (N, 1, D) with ``cls_only`` (the class token's output)."""
        d = x.shape[-1]
        if qkv is not None:
            q, k, v = qkv.split(d, dim=-1)
            q = q[:, :1] if cls_only else q
        elif cls_only:  # keys and values of every token, the query of the class token only
            h = self.ln_1(x)
            k, v = self.kv(h).split(d, dim=-1)
            q = self.q(h[:, 0]).unsqueeze(1)
        else:
            q, k, v = self.qkv(self.ln_1(x)).split(d, dim=-1)
        if cls_only:
            x = x[:, :1].contiguous()
        x = self._residual(self.out, _attention(q, k, v, self.heads), x, self.ls_1)
        h = self.ln_2(x)
        h = self.fc1(h, gelu=True) if self.exact_gelu else self.act(self.fc1(h))
        return self._residual(self.fc2, h, x, self.ls_2)


class _WindowViT:
    """Runs an open_clip ``VisionTransformer`` on whole images and on windows of their tokens."""

    def __init__(self, visual, scales: Sequence[int], runtime, packed: bool | None = None):
        torch = import_torch()
        needed = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post")
        if not all(hasattr(visual, name) for name in needed):
            raise InspectorError("WinCLIP needs a CLIP model with a ViT image encoder (open_clip).")
        if (
            getattr(visual, "attn_pool", None) is not None
            or getattr(visual, "pool_type", "tok") != "tok"
            or getattr(visual, "final_ln_after_pool", False)
        ):
            raise InspectorError("WinCLIP needs a ViT whose image embedding is its class token.")
        self.visual = visual
        self.grid = (int(visual.grid_size[0]), int(visual.grid_size[1]))
        self.image_size = (int(visual.image_size[0]), int(visual.image_size[1]))
        resblocks = list(visual.transformer.resblocks)
        if packed is None:  # oneDNN's prepacked kernels where they work; off for export (OpenVINO)
            packed = (
                runtime.device == "cpu"
                and runtime.dtype in ("float32", "bfloat16")
                and _onednn_linear_works(runtime.dtype, _linear_shapes(resblocks))
            )
        self.packed = packed
        self.blocks = [
            _Block(b, packed, last=i == len(resblocks) - 1) if _Block.supports(b) else b
            for i, b in enumerate(resblocks)
        ]
        self.windows = {k: window_indices(self.grid, k) for k in scales}
        # Token positions of each window's sequence: the class token (0), then its patches.
        self.sequences = {
            k: torch.from_numpy(np.concatenate([np.zeros((len(w), 1), np.int64), w + 1], axis=1))
            for k, w in self.windows.items()
        }

    def embed(self, x):
        """Patch embedding + class token + positional embedding + ``ln_pre``: ``(B, 1 + h*w, D)``."""
        torch = import_torch()
        v = self.visual
        tokens = v.conv1(x).flatten(2).transpose(1, 2)
        if tokens.shape[1] != self.grid[0] * self.grid[1]:
            raise InspectorError(
                f"Input of {tuple(x.shape[-2:])} px does not give the model's {self.grid[0]}x{self.grid[1]} patch grid."
            )
        cls = v.class_embedding.to(tokens.dtype).view(1, 1, -1).expand(tokens.shape[0], 1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + v.positional_embedding.to(tokens.dtype)
        return v.ln_pre(tokens)

    def first_qkv(self, tokens):
        """The first block's LayerNorm + QKV projection, once per token (None if not standard)."""
        first = self.blocks[0]
        return first.qkv(first.ln_1(tokens)) if isinstance(first, _Block) else None

    def _run(self, x, qkv, cls_only: bool):
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            if isinstance(block, _Block):
                x = block(x, qkv if i == 0 else None, cls_only=cls_only and i == last)
            else:
                x = block(x)
                x = x[:, :1] if cls_only and i == last else x
        return x

    def _project(self, cls_tokens):
        pooled = self.visual.ln_post(cls_tokens)
        return pooled @ self.visual.proj if self.visual.proj is not None else pooled

    def image_forward(self, tokens, qkv, patch_tokens: bool):
        """Class-token embedding ``(B, E)`` and, if asked, patch tokens after ``ln_post``."""
        x = self._run(tokens, qkv, cls_only=not patch_tokens)
        pooled = self._project(x[:, 0])
        return pooled, (self.visual.ln_post(x[:, 1:]) if patch_tokens else None)

    def window_forward(self, tokens, qkv, k: int, batch_windows: int | None):
        """Embeddings ``(B, n_windows, E)`` of every ``k x k`` window, as short sequences."""
        torch = import_torch()
        b, t, d = tokens.shape
        seq = self.sequences[k].to(tokens.device)
        n_windows, length = seq.shape
        offsets = torch.arange(b, device=tokens.device).view(b, 1, 1) * t
        flat = (offsets + seq.unsqueeze(0)).reshape(-1, length)  # rows of tokens.reshape(b * t, d)
        token_rows = tokens.reshape(b * t, d)
        qkv_rows = qkv.reshape(b * t, -1) if qkv is not None else None
        chunk = batch_windows or max(1, CHUNK_TOKENS // length)
        chunk = -(-flat.shape[0] // -(-flat.shape[0] // chunk))  # equal chunks, no small remainder
        out = []
        for start in range(0, flat.shape[0], chunk):
            index = flat[start : start + chunk]
            x = token_rows[index]
            x = self._run(x, qkv_rows[index] if qkv_rows is not None else None, cls_only=True)
            out.append(self._project(x[:, 0]))
        return torch.cat(out).view(b, n_windows, -1)


def encode_text(model, tokens):
    """``model.encode_text(tokens)``, run only up to the longest prompt's end-of-text token.

    With CLIP's causal attention mask and end-of-text (argmax) pooling, the padding after the
    longest prompt cannot change any output that is used, so the result is the same as running all
    77 positions (about 4x less work for the short WinCLIP prompts). Other text towers run as is.
    """
    torch = import_torch()
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
    mask = getattr(model, "attn_mask", None)
    if (
        type(model).encode_text is not _clip_encode_text()
        or not all(hasattr(model, n) for n in needed)
        or getattr(model, "text_pool_type", "argmax") != "argmax"
        or mask is None
        or mask.ndim != 2
    ):
        return model.encode_text(tokens)
    causal = torch.full_like(mask, float("-inf")).triu(1)
    if not torch.equal(mask, causal):
        return model.encode_text(tokens)
    end = tokens.argmax(dim=-1)
    length = int(end.max()) + 1
    dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens[:, :length]).to(dtype) + model.positional_embedding[:length].to(dtype)
    x = model.ln_final(model.transformer(x, attn_mask=mask[:length, :length]))
    x = x[torch.arange(x.shape[0], device=x.device), end]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


@functools.cache
def _clip_encode_text():
    import_torch()
    from open_clip.model import CLIP

    return CLIP.encode_text


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
            self._vit = _WindowViT(loaded.model.visual, self.scales, loaded.runtime)
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
        self.encoder = None  # OpenVINO image + window pass (batch 1), when that backend is used
        self._bare_encoder = None  # OpenVINO plain image encoder, compiled for benchmarks on first use
        self.info = DetectorInfo(
            detector="winclip+" if self.few_shot else "winclip",
            model_id=loaded.spec.id,
            device=loaded.runtime.device,
            dtype=loaded.runtime.dtype,
            shots=0,
            random_weights=loaded.random_weights,
            fingerprint=loaded.fingerprint,
        )
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
