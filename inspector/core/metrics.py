"""Evaluation metrics of anomaly detection: image AUROC, pixel AUROC, AUPRO, F1-max.

All metrics are exact - no threshold binning, no downsampling - and handle tied scores like
``sklearn.metrics.roc_auc_score`` (a tie between a normal and an anomalous sample counts one half).
They need one sort of the normal scores and one of the anomalous scores, shared by all pixel metrics
in :func:`evaluate`; 200 maps of 512 x 512 take about a second and a few hundred MB.

Conventions:

- Higher scores mean more anomalous; label 1 (or a True mask pixel) is anomalous.
- A metric that is undefined for the data - AUROC with only one class, AUPRO without any
  anomalous region or without normal pixels, F1 without any anomalous sample - is ``nan``.
- Scores must not be NaN (a ``ValueError`` says so); infinities are fine.
- Pixel metrics take the masks and maps as sequences of 2-D arrays (images may differ in size) or
  as stacked ``(N, H, W)`` arrays. A mask may be ``None`` for an image without defects; any
  nonzero mask value is a defect.

AUPRO follows the MVTec AD reference code (Bergmann et al., IJCV 2021, ``compute_pro``): the
ground-truth regions are the 8-connected components of each mask; at every threshold the
per-region overlap (PRO) is the mean over all regions of the fraction of the region's pixels at or
above the threshold, and the false-positive rate is over all normal pixels of all images. The
PRO-over-FPR curve - linear between the distinct thresholds, starting at (0, 0) - is integrated
up to ``fpr_limit`` (the curve interpolated at exactly that FPR) and divided by ``fpr_limit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

NAN = float("nan")

_Masks = Sequence["np.ndarray | None"] | np.ndarray
_Maps = Sequence[np.ndarray] | np.ndarray


@dataclass(frozen=True)
class EvalMetrics:
    """The metrics ``inspector eval`` reports; ``nan`` where undefined or not computed."""

    image_auroc: float
    pixel_auroc: float
    aupro: float
    f1_max: float
    pixel_f1_max: float = NAN


# --------------------------------------------------------------------------------------------- public


def image_auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of image scores (exact, ties count one half)."""
    return _Ranked.from_labels(labels, scores).auroc()


def f1_max(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Best F1 over all thresholds (a sample is flagged when its score >= the threshold)."""
    return _Ranked.from_labels(labels, scores).f1_max()[0]


def f1_max_threshold(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """``(best F1, threshold)``: flag scores ``>= threshold``. ``(nan, nan)`` without anomalous samples."""
    return _Ranked.from_labels(labels, scores).f1_max()


def pixel_auroc(masks: _Masks, maps: _Maps) -> float:
    """Area under the ROC curve over all pixels of all images (exact)."""
    return _Ranked.from_maps(masks, maps, regions=False).auroc()


def pixel_f1_max(masks: _Masks, maps: _Maps) -> float:
    """Best F1 over all thresholds, counting pixels of all images."""
    return _Ranked.from_maps(masks, maps, regions=False).f1_max()[0]


def aupro(masks: _Masks, maps: _Maps, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to ``fpr_limit`` (MVTec AD's AUPRO).

    Exact: every distinct score is a threshold (no binning, so no ``num_thresholds``).
    """
    return _Ranked.from_maps(masks, maps, regions=True).aupro(fpr_limit)


def evaluate(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    masks: _Masks | None = None,
    maps: _Maps | None = None,
    *,
    fpr_limit: float = 0.3,
) -> EvalMetrics:
    """All metrics at once; the pixel sort is shared. Pixel metrics are ``nan`` without masks/maps."""
    image = _Ranked.from_labels(labels, scores)
    if masks is None or maps is None:
        return EvalMetrics(image.auroc(), NAN, NAN, image.f1_max()[0])
    pixels = _Ranked.from_maps(masks, maps, regions=True)
    return EvalMetrics(
        image_auroc=image.auroc(),
        pixel_auroc=pixels.auroc(),
        aupro=pixels.aupro(fpr_limit),
        f1_max=image.f1_max()[0],
        pixel_f1_max=pixels.f1_max()[0],
    )


# ----------------------------------------------------------------------------------------- internals


def _score_dtype(dtype: np.dtype) -> np.dtype:
    """float32 keeps float16/32 and small-int scores exact at half the memory of float64."""
    if dtype.kind in "fiub" and dtype.itemsize <= 2 or dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


class _Ranked:
    """Normal (negative) and anomalous (positive) scores, each sorted ascending.

    ``weights`` (aligned with ``pos``) are ``1 / area`` of the ground-truth region of each positive
    pixel; ``n_regions`` is the number of regions. Both only for pixel data with ``regions=True``.
    """

    def __init__(self, neg: np.ndarray, pos: np.ndarray, weights: np.ndarray | None = None, n_regions: int = 0) -> None:
        neg.sort()
        if weights is not None:
            order = np.argsort(pos)
            pos, weights = pos[order], weights[order]
        else:
            pos.sort()
        for name, arr in (("normal", neg), ("anomalous", pos)):
            if arr.size and np.isnan(arr[-1]):  # NaN sorts last
                raise ValueError(f"the scores of {name} samples contain NaN")
        self.neg, self.pos, self.weights, self.n_regions = neg, pos, weights, n_regions

    @classmethod
    def from_labels(cls, labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> _Ranked:
        y = np.asarray(labels)
        s = np.asarray(scores)
        if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
            raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D and of equal length")
        if y.size and not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be 0 (good) or 1 (anomalous)")
        if s.dtype.kind not in "fiub":
            raise ValueError(f"scores must be numbers, not {s.dtype}")
        s = s.astype(np.float64)
        y = y.astype(bool)
        return cls(s[~y], s[y])

    @classmethod
    def from_maps(cls, masks: _Masks, maps: _Maps, *, regions: bool) -> _Ranked:
        if len(masks) != len(maps):
            raise ValueError(f"{len(masks)} masks but {len(maps)} anomaly maps")
        bool_masks: list[np.ndarray] = []
        arrays: list[np.ndarray] = []
        for i, (mask, amap) in enumerate(zip(masks, maps, strict=True)):
            amap = np.asarray(amap)
            if amap.ndim != 2:
                raise ValueError(f"anomaly map {i} has shape {amap.shape}; expected (H, W)")
            if amap.dtype.kind not in "fiub":
                raise ValueError(f"anomaly map {i} holds {amap.dtype}, not numbers")
            if mask is None:
                mask = np.zeros(amap.shape, dtype=bool)
            else:
                mask = np.asarray(mask)
                if mask.shape != amap.shape:
                    raise ValueError(f"mask {i} has shape {mask.shape} but its anomaly map {amap.shape}")
                mask = mask if mask.dtype == bool else mask != 0
            bool_masks.append(mask)
            arrays.append(amap)
        dtype = _score_dtype(np.result_type(*arrays)) if arrays else np.dtype(np.float32)
        counts = [int(np.count_nonzero(m)) for m in bool_masks]
        n_pos = sum(counts)
        n_neg = sum(m.size for m in bool_masks) - n_pos
        neg = np.empty(n_neg, dtype=dtype)
        pos = np.empty(n_pos, dtype=dtype)
        weights = np.empty(n_pos, dtype=np.float64) if regions else None
        n_regions = 0
        i_neg = i_pos = 0
        for mask, amap, count in zip(bool_masks, arrays, counts, strict=True):
            k = mask.size - count
            neg[i_neg : i_neg + k] = amap[~mask]
            pos[i_pos : i_pos + count] = amap[mask]
            if weights is not None and count:
                n_labels, components, stats, _ = cv2.connectedComponentsWithStats(
                    np.ascontiguousarray(mask).view(np.uint8), connectivity=8, ltype=cv2.CV_32S
                )
                weights[i_pos : i_pos + count] = 1.0 / stats[components[mask], cv2.CC_STAT_AREA]
                n_regions += n_labels - 1
            i_neg += k
            i_pos += count
        return cls(neg, pos, weights, n_regions)

    @cached_property
    def _neg_below(self) -> np.ndarray:
        """For each positive: the number of negatives strictly below it."""
        return np.searchsorted(self.neg, self.pos, side="left")

    @cached_property
    def _neg_at_or_below(self) -> np.ndarray:
        return np.searchsorted(self.neg, self.pos, side="right")

    def auroc(self) -> float:
        n_neg, n_pos = self.neg.size, self.pos.size
        if n_neg == 0 or n_pos == 0:
            return NAN
        # Mann-Whitney U: pairs (neg < pos) count 1, ties 1/2. Integer sums are exact.
        twice_u = int(self._neg_below.sum(dtype=np.int64)) + int(self._neg_at_or_below.sum(dtype=np.int64))
        return twice_u / (2 * n_neg * n_pos)

    def f1_max(self) -> tuple[float, float]:
        n_neg, n_pos = self.neg.size, self.pos.size
        if n_pos == 0:
            return NAN, NAN
        # The best threshold is always one of the positive scores; flag scores >= threshold.
        tp = n_pos - np.searchsorted(self.pos, self.pos, side="left")
        fp = n_neg - self._neg_below
        f1 = 2.0 * tp / (tp + fp + n_pos)
        best = int(np.argmax(f1))
        return float(f1[best]), float(self.pos[best])

    def aupro(self, fpr_limit: float) -> float:
        if not 0.0 < fpr_limit <= 1.0:
            raise ValueError(f"fpr_limit must be in (0, 1], not {fpr_limit}")
        if self.weights is None:
            raise RuntimeError("AUPRO needs the ground-truth regions (regions=True)")
        n_neg = self.neg.size
        if n_neg == 0 or self.n_regions == 0:
            return NAN
        # Walking the thresholds down, FPR rises 1/n_neg per normal pixel. The group of normal pixels
        # tied at score ``c`` is where the FPR passes fpr_limit: it spans FPR [a, b] with a < limit <= b.
        k = min(max(math.ceil(fpr_limit * n_neg), 1), n_neg)
        c = self.neg[n_neg - k]
        start_eq = int(np.searchsorted(self.neg, c, side="left"))
        start_gt = int(np.searchsorted(self.neg, c, side="right"))
        w = self.weights / self.n_regions  # PRO(t) = sum of w over positives >= t
        # Area over the normal pixels above c: each one adds (1/n_neg) * (PRO(>s) + PRO(>=s)) / 2,
        # summed here per positive pixel as w * (#above-c normals below it + #... at or below it) / 2.
        below = np.maximum(self._neg_below - start_gt, 0)
        at_or_below = np.maximum(self._neg_at_or_below - start_gt, 0)
        area = float(np.dot(w, below + at_or_below)) / (2.0 * n_neg)
        # The tied group at c: PRO rises linearly from p0 to p1 while FPR goes from a to b.
        a = (n_neg - start_gt) / n_neg
        b = (n_neg - start_eq) / n_neg
        i_gt = int(np.searchsorted(self.pos, c, side="right"))
        i_eq = int(np.searchsorted(self.pos, c, side="left"))
        p0 = float(w[i_gt:].sum())
        p1 = p0 + float(w[i_eq:i_gt].sum())
        width = min(max(fpr_limit - a, 0.0), b - a)
        p_limit = p0 + (p1 - p0) * width / (b - a)
        area += width * (p0 + p_limit) / 2.0
        return area / fpr_limit
