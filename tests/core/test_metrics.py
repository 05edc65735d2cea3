"""Metrics against sklearn, against a port of the MVTec AD reference AUPRO code, and by hand."""

from __future__ import annotations

import math
from bisect import bisect

import cv2
import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score

from inspector.core.metrics import (
    EvalMetrics,
    aupro,
    evaluate,
    f1_max,
    f1_max_threshold,
    image_auroc,
    pixel_auroc,
    pixel_f1_max,
)


def sk_f1_max(labels, scores) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f1.max())


def reference_aupro(masks, maps, fpr_limit: float) -> float:
    """Straight port of MVTec AD's ``compute_pro`` + ``trapezoid(x_max=...)`` (one full argsort)."""
    scores = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    gts = np.concatenate([m.ravel() for m in masks]).astype(bool)
    pro_changes = np.zeros(scores.size)
    offset, n_regions = 0, 0
    for mask in masks:
        n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        flat = comp.ravel()
        for k in range(1, n):
            sel = np.flatnonzero(flat == k)
            pro_changes[offset + sel] = 1.0 / sel.size
        n_regions += n - 1
        offset += mask.size
    fpr_changes = np.where(gts, 0.0, 1.0 / np.count_nonzero(~gts))
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    fprs = np.cumsum(fpr_changes[order])
    pros = np.cumsum(pro_changes[order]) / n_regions
    keep = np.append(np.diff(s) != 0, True)
    x = np.concatenate([[0.0], np.clip(fprs[keep], None, 1.0), [1.0]])
    y = np.concatenate([[0.0], np.clip(pros[keep], None, 1.0), [1.0]])
    correction = 0.0
    if fpr_limit not in x:
        ins = bisect(x, fpr_limit)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (fpr_limit - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (fpr_limit - x[ins - 1])
    keep = x <= fpr_limit
    x, y = x[keep], y[keep]
    return float((np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction) / fpr_limit)


def random_maps(rng: np.random.Generator, n: int = 6, levels: int | None = None):
    """Masks with a few blobs (some images defect-free), maps correlated with them."""
    masks, maps = [], []
    for i in range(n):
        h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
        mask = np.zeros((h, w), np.uint8)
        if i % 3:
            for _ in range(int(rng.integers(1, 4))):
                centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                cv2.circle(mask, centre, int(rng.integers(1, 6)), 1, -1)
        amap = rng.random((h, w)) + 0.6 * mask
        if levels:
            amap = np.round(amap * levels) / levels  # many ties
        masks.append(mask.astype(bool))
        maps.append(amap.astype(np.float32))
    return masks, maps


# ------------------------------------------------------------------------------------- image level


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [None, 4, 10])
def test_image_auroc_and_f1_match_sklearn(seed, levels):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = rng.normal(size=200) + labels
    if levels:
        scores = np.round(scores * levels / 4)  # heavy ties, across classes too
    assert image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert f1_max(labels, scores) == pytest.approx(sk_f1_max(labels, scores), abs=1e-12)


def test_f1_max_threshold_flags_scores_at_or_above():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.35, 0.8, 0.9]
    f1, threshold = f1_max_threshold(labels, scores)
    # threshold 0.3: TP 3, FP 1 -> F1 = 6/7; threshold 0.8: TP 2, FP 0 -> 0.8.
    assert f1 == pytest.approx(6 / 7)
    assert threshold == pytest.approx(0.3)


def test_image_auroc_ties_and_perfect():
    assert image_auroc([0, 1], [0.5, 0.5]) == 0.5
    assert image_auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert image_auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert image_auroc(np.array([False, True, True]), np.array([1, 1, 2], dtype=np.int64)) == 0.75


def test_one_class_is_nan_without_crash():
    assert math.isnan(image_auroc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(image_auroc([1, 1], [0.1, 0.2]))
    assert math.isnan(image_auroc([], []))
    assert math.isnan(f1_max([0, 0], [0.1, 0.2]))
    assert f1_max([1, 1], [0.1, 0.2]) == 1.0  # only anomalous samples: flag everything, F1 is defined


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        image_auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="0 \\(good\\) or 1"):
        image_auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="equal length"):
        image_auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="shape"):
        pixel_auroc([np.zeros((4, 4), bool)], [np.zeros((4, 5))])
    with pytest.raises(ValueError, match="masks but"):
        pixel_auroc([np.zeros((4, 4), bool)], [])
    with pytest.raises(ValueError, match="NaN"):
        pixel_auroc([np.eye(3, dtype=bool)], [np.full((3, 3), np.nan)])


# ------------------------------------------------------------------------------------- pixel level


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("levels", [None, 3, 20])
def test_pixel_metrics_match_sklearn(seed, levels):
    masks, maps = random_maps(np.random.default_rng(seed), levels=levels)
    y = np.concatenate([m.ravel() for m in masks])
    s = np.concatenate([m.ravel() for m in maps])
    assert pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert pixel_f1_max(masks, maps) == pytest.approx(sk_f1_max(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("levels", [None, 2, 5, 50])
@pytest.mark.parametrize("fpr_limit", [0.01, 0.05, 0.3, 1.0])
def test_aupro_matches_mvtec_reference(seed, levels, fpr_limit):
    masks, maps = random_maps(np.random.default_rng(seed), levels=levels)
    expected = reference_aupro(masks, maps, fpr_limit)
    assert aupro(masks, maps, fpr_limit=fpr_limit) == pytest.approx(expected, abs=1e-9)


def test_aupro_perfect_inverted_and_constant():
    mask = np.zeros((16, 16), bool)
    mask[2:5, 2:5] = True
    mask[10:14, 8:15] = True
    good = np.zeros((16, 16), bool)
    perfect = mask + 0.5 * np.random.default_rng(0).random((16, 16))
    assert aupro([mask, good], [perfect, np.zeros((16, 16))]) == pytest.approx(1.0)
    assert aupro([mask, good], [-perfect, np.zeros((16, 16))]) == pytest.approx(0.0)
    # A constant map: one threshold, the curve goes straight from (0, 0) to (1, 1):
    # area up to 0.3 is 0.3 * 0.3 / 2, divided by 0.3 -> 0.15 (0.05 for a limit of 0.1).
    const = [np.ones((16, 16)), np.ones((16, 16))]
    assert aupro([mask, good], const) == pytest.approx(0.15)
    assert aupro([mask, good], const, fpr_limit=0.1) == pytest.approx(0.05)


def test_aupro_hand_worked():
    # One 1 x 8 image: region A = pixel 0, region B = pixels 2-3; normal pixels 1, 4, 5, 6, 7 (5 pixels).
    mask = np.array([[1, 0, 1, 1, 0, 0, 0, 0]], bool)
    amap = np.array([[0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.0]])
    # Thresholds downwards: 0.9 -> (FPR 0, PRO 1/2); 0.8 -> (0.2, 1/2); 0.7 -> (0.2, (1 + 1/2)/2 = 3/4);
    # 0.6 -> (0.4, 3/4). Area to FPR 0.3: 0.2 * 1/2 + 0.1 * 3/4 = 0.175; / 0.3 = 7/12.
    assert aupro([mask], [amap]) == pytest.approx(7 / 12)
    # Normal pixel 4 tied with B's pixel 2 at 0.7: the curve goes straight from (0.2, 1/2) to (0.4, 3/4),
    # so PRO(0.3) = 5/8 and the area is 0.1 + 0.1 * (1/2 + 5/8) / 2 = 0.15625; / 0.3 = 25/48.
    tied = amap.copy()
    tied[0, 4] = 0.7
    assert aupro([mask], [tied]) == pytest.approx(25 / 48)
    assert aupro([mask], [tied]) == pytest.approx(reference_aupro([mask], [tied], 0.3))


def test_aupro_regions_are_8_connected():
    # Pixels (0,0), (1,1), (1,2) touch diagonally: one region of 3 pixels (with 4-connectivity: two).
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[1, 1] = mask[1, 2] = True
    amap = np.full((4, 4), 0.5)
    amap[0, 0], amap[1, 1], amap[1, 2] = 1.0, 0.0, 0.0
    # At threshold 1.0 the PRO is 1/3 (0.5 with two regions) and stays so until FPR jumps to 1.
    assert aupro([mask], [amap]) == pytest.approx(1 / 3)


def test_aupro_single_region_at_full_fpr_equals_pixel_auroc():
    rng = np.random.default_rng(3)
    mask = np.zeros((30, 30), bool)
    mask[5:20, 8:12] = True
    amap = np.round(rng.random((30, 30)) + 0.4 * mask, 1)  # ties
    assert aupro([mask], [amap], fpr_limit=1.0) == pytest.approx(pixel_auroc([mask], [amap]), abs=1e-12)


def test_pixel_metrics_undefined_cases_are_nan():
    good = [np.zeros((8, 8), bool), None]
    maps = [np.random.default_rng(0).random((8, 8)), np.zeros((5, 7))]
    assert math.isnan(pixel_auroc(good, maps))
    assert math.isnan(aupro(good, maps))
    assert math.isnan(pixel_f1_max(good, maps))
    full = [np.ones((8, 8), bool)]
    assert math.isnan(pixel_auroc(full, maps[:1]))
    assert math.isnan(aupro(full, maps[:1]))
    assert math.isnan(pixel_auroc([], []))
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro([np.eye(4, dtype=bool)], [np.eye(4)], fpr_limit=0.0)


def test_stacked_arrays_uint8_masks_and_none_masks():
    rng = np.random.default_rng(7)
    masks = [np.zeros((20, 20), bool) for _ in range(4)]
    masks[1][3:6, 4:9] = True
    masks[2][10:18, 1:4] = True
    masks[2][0:2, 15:20] = True
    maps = [(rng.random((20, 20)) + 0.5 * m).astype(np.float32) for m in masks]
    stacked_masks = np.stack(masks).astype(np.uint8) * 255
    stacked_maps = np.stack(maps).astype(np.float16)
    expected = aupro(masks, [m.astype(np.float16) for m in maps])
    assert aupro(stacked_masks, stacked_maps) == pytest.approx(expected)
    with_none = [None if not m.any() else m for m in masks]
    assert with_none[0] is None
    assert pixel_auroc(with_none, maps) == pytest.approx(pixel_auroc(masks, maps))
    assert 0.5 < pixel_auroc(with_none, maps) < 1.0


def test_evaluate_shares_the_work_and_matches_the_single_metrics():
    masks, maps = random_maps(np.random.default_rng(1), levels=10)
    labels = [int(m.any()) for m in masks]
    scores = [float(m.max()) for m in maps]
    result = evaluate(labels, scores, masks, maps)
    assert isinstance(result, EvalMetrics)
    assert result.image_auroc == image_auroc(labels, scores)
    assert result.pixel_auroc == pixel_auroc(masks, maps)
    assert result.aupro == aupro(masks, maps)
    assert result.f1_max == f1_max(labels, scores)
    assert result.pixel_f1_max == pixel_f1_max(masks, maps)
    image_only = evaluate(labels, scores)
    assert image_only.image_auroc == result.image_auroc
    assert math.isnan(image_only.pixel_auroc) and math.isnan(image_only.aupro)
