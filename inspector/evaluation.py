"""``inspector eval``: how well a detector separates good from bad parts on a labelled folder.

Works on any folder in MVTec AD layout (a dataset root holding category folders, or one category
folder). For each category: fit the detector on ``shots`` good training images (few-shot
detectors), score every test image, and compute image AUROC, pixel AUROC, AUPRO (FPR <= 0.3) and
F1-max; then the mean over categories.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from inspector.core.datasets import CategoryData, find_categories, load_category, select_references
from inspector.core.images import downscale_to_max_side, load_image, load_mask
from inspector.core.metrics import EvalMetrics
from inspector.core.metrics import evaluate as compute_metrics
from inspector.core.progress import ProgressState
from inspector.detectors.base import Detector
from inspector.errors import DatasetError


@dataclass(frozen=True)
class CategoryResult:
    name: str
    shots: int
    n_test: int
    n_defective: int
    metrics: EvalMetrics
    seconds: float
    images_per_s: float
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    detector: str
    model_id: str
    device: str
    dtype: str
    shots: int
    random_weights: bool
    categories: tuple[CategoryResult, ...]
    mean: EvalMetrics
    pixel_max_side: int
    notes: tuple[str, ...] = field(default=())
    backend: str = "torch"

    def as_dict(self) -> dict:
        return asdict(self)


def _metric_mean(results: Sequence[CategoryResult]) -> EvalMetrics:
    def mean(name: str) -> float:
        values = [getattr(r.metrics, name) for r in results]
        values = [v for v in values if v == v]  # drop NaN
        return float(np.mean(values)) if values else float("nan")

    return EvalMetrics(**{name: mean(name) for name in EvalMetrics.__dataclass_fields__})


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def evaluate_category(
    category: CategoryData,
    detector: Detector,
    shots: int,
    *,
    batch_size: int = 8,
    seed: int = 0,
    pixel_max_side: int = 512,
    progress: ProgressState | None = None,
    done_before: int = 0,
    total: int = 0,
) -> CategoryResult:
    """Fit (few-shot) and score one category; compute its metrics."""
    progress = progress or ProgressState()
    refs: list[Path] = []
    if detector.needs_references:
        refs = select_references(category, shots, seed=seed)
        detector.fit([load_image(p) for p in refs])
    labels, scores, masks, maps = [], [], [], []
    items = list(category.test)
    start = time.perf_counter()
    done = 0

    def load(batch):
        images = [load_image(item.path) for item in batch]
        gts = []
        for item, image in zip(batch, images, strict=True):
            if item.mask_path is not None:
                gts.append(load_mask(item.mask_path))
            else:
                gts.append(np.zeros(image.shape[:2], dtype=bool))
        return batch, images, gts

    with ThreadPoolExecutor(max_workers=1) as pool:  # read the next batch while this one is scored
        pending = None
        batches = list(_batches(items, batch_size))
        for i in range(len(batches)):
            pending = pending or pool.submit(load, batches[i])
            batch, images, gts = pending.result()
            pending = pool.submit(load, batches[i + 1]) if i + 1 < len(batches) else None
            progress.check()
            predictions = detector.predict(images)
            for item, pred, gt in zip(batch, predictions, gts, strict=True):
                if gt.shape != pred.anomaly_map.shape:
                    import cv2

                    gt = cv2.resize(
                        gt.astype(np.uint8), pred.anomaly_map.shape[::-1], interpolation=cv2.INTER_NEAREST
                    ).astype(bool)
                labels.append(item.label)
                scores.append(pred.score)
                masks.append(downscale_to_max_side(gt, pixel_max_side, nearest=True))
                maps.append(downscale_to_max_side(pred.anomaly_map, pixel_max_side))
            done += len(batch)
            progress.report(done_before + done, total, category.name)
    seconds = time.perf_counter() - start
    labels_arr = np.asarray(labels)
    scores_arr = np.asarray(scores, dtype=np.float64)
    if category.has_masks:
        metrics = compute_metrics(labels_arr, scores_arr, masks, maps)
    else:  # a defective image without a mask would count as defect-free: no pixel metrics then
        metrics = compute_metrics(labels_arr, scores_arr)
    return CategoryResult(
        name=category.name,
        shots=len(refs),
        n_test=len(items),
        n_defective=int(labels_arr.sum()),
        metrics=metrics,
        seconds=seconds,
        images_per_s=len(items) / seconds if seconds > 0 else 0.0,
        references=tuple(str(p) for p in refs),
    )


def evaluate(
    root: Path,
    make_detector: Callable[[], Detector],
    shots: int,
    *,
    batch_size: int = 8,
    seed: int = 0,
    pixel_max_side: int = 512,
    categories: Sequence[str] = (),
    progress: ProgressState | None = None,
) -> EvalReport:
    """Evaluate a detector on every category of an MVTec-AD-layout folder.

    Args:
        root: Dataset root (category folders inside) or a single category folder.
        make_detector: Builds the detector once; it is re-fitted per category.
        shots: Good training images per category for few-shot detectors.
        pixel_max_side: Pixel metrics are computed on maps and masks downscaled so their longer
            side is at most this (bounded memory on large images).
        categories: Only these categories (all when empty).
    """
    progress = progress or ProgressState()
    found = [load_category(p) for p in find_categories(Path(root))]
    if categories:
        unknown = sorted(set(categories) - {c.name for c in found})
        if unknown:
            raise DatasetError(
                f"{root} has no category {', '.join(unknown)}; it has {', '.join(c.name for c in found) or 'none'}."
            )
        found = [c for c in found if c.name in set(categories)]
    total = sum(len(c.test) for c in found)
    detector = make_detector()
    results = []
    done = 0
    for category in found:
        result = evaluate_category(
            category,
            detector,
            shots,
            batch_size=batch_size,
            seed=seed,
            pixel_max_side=pixel_max_side,
            progress=progress,
            done_before=done,
            total=total,
        )
        results.append(result)
        done += result.n_test
    info = detector.info
    notes = ()
    if info.random_weights:
        notes = ("Computed with RANDOM WEIGHTS: the figures are meaningless and only show that the pipeline runs.",)
    return EvalReport(
        dataset=str(root),
        detector=info.detector,
        model_id=info.model_id,
        device=info.device,
        dtype=info.dtype,
        shots=shots if detector.needs_references else 0,
        random_weights=info.random_weights,
        categories=tuple(results),
        mean=_metric_mean(results),
        pixel_max_side=pixel_max_side,
        notes=notes,
        backend=info.backend,
    )
