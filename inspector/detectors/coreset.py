"""Greedy coreset subsampling of a patch memory (PatchCore, Roth et al., CVPR 2022).

The k-center greedy selection of PatchCore's reference code and of anomalib's
``KCenterGreedy``: the features are first reduced by a random Gaussian projection (128 dimensions,
as PatchCore's ``ApproximateGreedyCoresetSampler``) to make distances cheap; starting from one
random feature, the feature farthest (Euclidean) from everything selected so far is added, until
``ratio`` of the features are selected. The result covers the memory with the smallest radius the
greedy 2-approximation finds; the radius after each tenth of the selection is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.progress import ProgressState


@dataclass(frozen=True)
class CoresetResult:
    indices: object  # (k,) int64 tensor into the input rows
    radii: tuple[float, ...]  # coverage radius (max distance to the nearest selected) at checkpoints


def k_center_greedy(
    features,
    ratio: float,
    *,
    projection_dim: int = 128,
    seed: int = 0,
    progress: ProgressState | None = None,
    checkpoints: int = 10,
) -> CoresetResult:
    """Select ``max(1, round(ratio * N))`` rows of ``features`` ``(N, D)`` (a float32 tensor)."""
    from inspector._torch import import_torch

    torch = import_torch()
    n = int(features.shape[0])
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"coreset ratio must be in (0, 1], got {ratio}")
    k = max(1, min(n, round(ratio * n)))
    gen = torch.Generator().manual_seed(int(seed))
    if ratio >= 1.0:
        return CoresetResult(torch.arange(n), (0.0,))
    x = features.float()
    if projection_dim and x.shape[1] > projection_dim:
        proj = torch.randn(x.shape[1], projection_dim, generator=gen).to(x.device) / projection_dim**0.5
        x = x @ proj
    x = x.contiguous()
    sq = (x * x).sum(dim=1)
    selected = torch.empty(k, dtype=torch.int64)
    first = int(torch.randint(n, (1,), generator=gen))
    selected[0] = first
    min_d = (sq - 2 * (x @ x[first]) + sq[first]).clamp_(min=0)
    radii = []
    every = max(1, k // checkpoints)
    for i in range(1, k):
        idx = int(torch.argmax(min_d))
        selected[i] = idx
        d = (sq - 2 * (x @ x[idx]) + sq[idx]).clamp_(min=0)
        torch.minimum(min_d, d, out=min_d)
        if i % every == 0 or i == k - 1:
            radii.append(float(min_d.max().sqrt()))
            if progress is not None:
                progress.check()
                progress.report(i + 1, k, "coreset")
    if not radii:
        radii.append(float(min_d.max().sqrt()))
    return CoresetResult(selected, tuple(radii))
