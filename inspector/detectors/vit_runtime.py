"""The hand-written ViT runtime WinCLIP runs on: an open_clip ``VisionTransformer`` on whole images
and on short sequences of window tokens, and CLIP's text tower cut at the longest prompt.

Moved out of :mod:`inspector.detectors.winclip` (the algorithm) unchanged. What it does for speed:
the windows are run batched as *short sequences* (5 tokens for 2x2 windows, 10 for 3x3), in chunks;
patch embedding, positional embedding, ``ln_pre`` and the first block's LayerNorm and QKV projection
are computed once per token and gathered; the last block runs attention, the output projection and
the MLP for the class token only (the only output used). On CPUs where oneDNN's prepacked linear
kernels work (checked once per process, :func:`onednn_linear_works`) they replace ``F.linear``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from inspector._torch import import_torch
from inspector.errors import InspectorError

# Tokens per chunk of windows when ``batch_windows`` is not given: large enough for efficient
# matrix products, small enough for the activations to stay in cache (measured on a 2-core AMX CPU).
CHUNK_TOKENS = 2560


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


# -- the ViT, run on the whole image and on windows -------------------------------------------
def attention(q, k, v, heads: int):
    torch = import_torch()
    n, lq, d = q.shape
    q = q.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    k = k.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    v = v.unflatten(-1, (heads, d // heads)).transpose(1, 2)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(n, lq, d)


def linear_shapes(resblocks) -> tuple[tuple[int, int], ...]:
    """(in, out) features of every distinct linear layer of the ViT's blocks (QKV, out, MLP)."""
    shapes = []
    for block in resblocks:
        if not Block.supports(block):
            continue
        attn, mlp = block.attn, block.mlp
        for weight in (attn.in_proj_weight, attn.out_proj.weight, mlp.c_fc.weight, mlp.c_proj.weight):
            shape = (int(weight.shape[1]), int(weight.shape[0]))
            if shape not in shapes:
                shapes.append(shape)
    return tuple(shapes)


@functools.cache
def onednn_linear_works(dtype_name: str, shapes: tuple[tuple[int, int], ...] = ((64, 96),)) -> bool:
    """Whether oneDNN's prepacked linear (+GELU, +residual) runs here and matches ``F.linear``.

    Checked once per process for the model's own layer shapes (``(in, out)`` features, see
    :func:`linear_shapes`) and dtype, with weights packed for the chunk size the window pass uses:
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


class Linear:
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


class Block:
    """One standard open_clip ``ResidualAttentionBlock`` (LN, multi-head attention, LN, MLP)."""

    def __init__(self, block, packed: bool, last: bool = False):
        torch = import_torch()
        nn = torch.nn
        attn = block.attn
        d = attn.embed_dim
        w, b = attn.in_proj_weight, attn.in_proj_bias
        self.ln_1, self.ln_2, self.heads = block.ln_1, block.ln_2, attn.num_heads
        self.qkv = Linear(w, b, packed)
        # Separate query / key-value projections, for a last block that runs the class token only.
        self.q = Linear(w[:d], None if b is None else b[:d], packed and last)
        self.kv = Linear(w[d:], None if b is None else b[d:], packed and last)
        self.out = Linear(attn.out_proj.weight, attn.out_proj.bias, packed)
        self.fc1 = Linear(block.mlp.c_fc.weight, block.mlp.c_fc.bias, packed)
        self.fc2 = Linear(block.mlp.c_proj.weight, block.mlp.c_proj.bias, packed)
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

    def _residual(self, linear: Linear, h, x, scale):
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
        x = self._residual(self.out, attention(q, k, v, self.heads), x, self.ls_1)
        h = self.ln_2(x)
        h = self.fc1(h, gelu=True) if self.exact_gelu else self.act(self.fc1(h))
        return self._residual(self.fc2, h, x, self.ls_2)


class WindowViT:
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
                and onednn_linear_works(runtime.dtype, linear_shapes(resblocks))
            )
        self.packed = packed
        self.blocks = [
            Block(b, packed, last=i == len(resblocks) - 1) if Block.supports(b) else b for i, b in enumerate(resblocks)
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
        return first.qkv(first.ln_1(tokens)) if isinstance(first, Block) else None

    def _run(self, x, qkv, cls_only: bool):
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            if isinstance(block, Block):
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
