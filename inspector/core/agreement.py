"""How closely one detector follows another: map Pearson, score Spearman, verdict agreement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long arrays (NaN when either is constant)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as ``scipy.stats.rankdata``)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sorted_v = v[order]
    start = 0
    while start < len(v):
        end = start
        while end + 1 < len(v) and sorted_v[end + 1] == sorted_v[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of the average ranks)."""
    return pearson(average_ranks(a), average_ranks(b))


@dataclass(frozen=True)
class Agreement:
    """A student's agreement with its teacher on the same images.

    Attributes:
        map_pearson: Mean over images of the Pearson correlation of the two anomaly maps.
        score_spearman: Spearman correlation of the image scores.
        verdict_agreement: Fraction of images with the same verdict at ``threshold``.
        threshold: The score threshold both verdicts use.
        n_images: Images compared.
    """

    map_pearson: float
    score_spearman: float
    verdict_agreement: float
    threshold: float
    n_images: int

    def as_dict(self) -> dict[str, float]:
        return {
            "map_pearson": self.map_pearson,
            "score_spearman": self.score_spearman,
            "verdict_agreement": self.verdict_agreement,
            "threshold": self.threshold,
            "n_images": float(self.n_images),
        }


def agreement(
    student_scores: Sequence[float],
    teacher_scores: Sequence[float],
    student_maps: Sequence[np.ndarray],
    teacher_maps: Sequence[np.ndarray],
    threshold: float,
) -> Agreement:
    s = np.asarray(student_scores, dtype=np.float64)
    t = np.asarray(teacher_scores, dtype=np.float64)
    per_map = [pearson(a, b) for a, b in zip(student_maps, teacher_maps, strict=True)]
    per_map = [v for v in per_map if v == v]
    return Agreement(
        map_pearson=float(np.mean(per_map)) if per_map else float("nan"),
        score_spearman=spearman(s, t),
        verdict_agreement=float(np.mean((s >= threshold) == (t >= threshold))) if len(s) else float("nan"),
        threshold=float(threshold),
        n_images=len(s),
    )
