"""A realistic station database for the report tests, the benchmark and the README pictures.

Two shifts (runs) under two versions of one recipe, a few parts outside any run, scores drawn from
good and defective distributions, the model's verdicts from each version's threshold (v2 with an
uncertain band), captions on failed parts, and operators' decisions: confirmations, false alarms
passed, uncertain parts resolved, missed defects failed, and undone decisions. Some parts of the
second shift were scored with random weights. Every part has an image copy, a thumbnail and an
anomaly map in the artifact store, so images, heatmaps and the dataset export all have data.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from inspector.store import (
    ArtifactStore,
    CaptionStatus,
    InspectionStore,
    NewInspection,
    Verdict,
    open_database,
)

T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
DEFECTS = ("scratch", "dent", "crack", "rust")
CAPTIONS = {
    "scratch": "a thin scratch across the {where} of the bracket",
    "dent": "a small dent near the {where} edge",
    "crack": "a hairline crack at the {where} hole",
    "rust": "a rust-coloured spot on the {where} face",
}
WHERE = ("left", "right", "upper", "lower", "centre")


@dataclass
class Station:
    store: InspectionStore
    recipe_v1: str
    recipe_v2: str
    run_a: str
    run_b: str
    n: int


def open_fast_store(db_path: Path) -> InspectionStore:
    """A store whose artifact writes skip fsync (test data, not production)."""
    db = open_database(db_path, busy_timeout_s=2.0)
    return InspectionStore(db, artifacts=ArtifactStore(db.artifacts_dir, fsync=False), station="line-3-station")


def _synthetic_part(rng: np.random.Generator, defect: str | None, side: int) -> tuple[np.ndarray, np.ndarray]:
    """A brushed-metal part image (RGB uint8) and its anomaly map (float32, half resolution)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = 150 + 30 * np.sin(x * 40 + rng.uniform(0, 6)) * 0.2 + rng.normal(0, 6, (side, side))
    base += 25 * (1 - ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    heat = cv2.GaussianBlur(rng.gamma(2.0, 0.04, (side // 2, side // 2)).astype(np.float32), (0, 0), 2.0)
    if defect is not None:
        cx, cy = rng.uniform(0.25, 0.75, 2)
        blob = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * rng.uniform(0.03, 0.07) ** 2)))
        base -= 70 * blob
        hy, hx = np.mgrid[0 : side // 2, 0 : side // 2].astype(np.float32) / (side // 2)
        heat += 0.9 * np.exp(-(((hx - cx) ** 2 + (hy - cy) ** 2) / (2 * 0.08**2))).astype(np.float32)
    gray = np.clip(base, 0, 255).astype(np.uint8)
    rgb = np.stack([gray, gray, (gray * 0.97).astype(np.uint8)], axis=-1)
    return rgb, heat


def _real_part(pool: list[tuple[Path, Path | None]], k: int, rng: np.random.Generator, full_res: bool = False):
    """An image of the shared dataset (RGB) and a heatmap made from its mask (or noise)."""
    path, mask = pool[k % len(pool)]
    with Image.open(path) as picture:
        rgb = np.asarray(picture.convert("RGB"))
    h, w = rgb.shape[:2]
    mh, mw = (h, w) if full_res else (h // 2, w // 2)
    heat = cv2.GaussianBlur(rng.gamma(2.0, 0.04, (mh, mw)).astype(np.float32), (0, 0), 3.0 * mw / (w // 2))
    if mask is not None:
        with Image.open(mask) as m:
            m_arr = np.asarray(m.convert("L").resize((mw, mh)), dtype=np.float32) / 255
        heat += 0.9 * cv2.GaussianBlur(m_arr, (0, 0), 6 * mw / (w // 2))
    if k >= len(pool):  # an image seen before: a different part of the same look (new bytes, new hash)
        rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
        flip = (slice(None), slice(None, None, -1)) if (k // len(pool)) % 2 else (slice(None, None, -1),)
        rgb, heat = np.ascontiguousarray(rgb[flip]), np.ascontiguousarray(heat[flip])
    return rgb, heat, path


def _png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def build_station(
    db_path: Path,
    n: int = 300,
    *,
    seed: int = 7,
    defect_rate: float = 0.12,
    side: int = 96,
    real_images: list[tuple[Path, Path | None]] | None = None,
    random_weight_parts: int = 20,
    loose_parts: int = 6,
    thumb_side: int = 192,
    full_res_maps: bool = False,
    recipe: str = "bracket-A",
    object_name: str = "bracket",
    calibration_good: int = 0,
    drift_from: float | None = None,
) -> Station:
    """Fill a new database at ``db_path`` with ``n`` inspections (see the module doc).

    ``real_images``: ``(image, mask or None)`` pairs to use instead of synthetic images; defective
    parts then take the images that have masks. ``full_res_maps``: anomaly maps at the image's own
    resolution, stored losslessly (as the station does by default) instead of small compact ones.
    ``calibration_good``: recipe v2 keeps that many calibration good scores (the drift chart's
    reference). ``drift_from``: from this fraction of shift B on, good parts score 0.12 higher (a
    line that drifts, e.g. dirt on the lens).
    """
    rng = np.random.default_rng(seed)
    store = open_fast_store(db_path)
    v1 = store.save_recipe_version(recipe, {"object": object_name, "threshold": 0.5, "detector": "anomalydino"})
    v2_body = {"object": object_name, "threshold": 0.55, "uncertain_band": [0.5, 0.6], "detector": "anomalydino"}
    if calibration_good:
        good = np.clip(np.random.default_rng(seed + 1).normal(0.36, 0.09, calibration_good), 0.01, 0.99)
        v2_body["calibration"] = {"threshold": 0.55, "good_scores": [float(s) for s in good]}
    v2 = store.save_recipe_version(recipe, v2_body)
    run_a = store.start_run(
        source="camera:0", recipe_version_id=v1.id, operator="Ana Lima", label="Shift A", lot="L-17", started_at=T0
    )
    run_b = store.start_run(
        source="camera:0",
        recipe_version_id=v2.id,
        operator="Ben Okafor",
        label="Shift B",
        lot="L-18",
        started_at=T0 + timedelta(hours=8),
    )
    store.record_skip("/parts/shift-a/img_broken.png", "not an image (truncated file)", run_id=run_a.id)
    store.record_skip("/parts/shift-a/img_empty.png", "empty file", run_id=run_a.id)
    goods = [p for p in (real_images or []) if p[1] is None]
    bads = [p for p in (real_images or []) if p[1] is not None]
    vocabulary = tuple(sorted({p.parent.name for p, _ in bads})) or DEFECTS
    bads = [bads[k] for k in rng.permutation(len(bads))]  # every defect type, mixed
    n_bad = 0

    n_loose = min(loose_parts, n // 10)
    n_a = (n - n_loose) // 2
    items: list[NewInspection] = []
    truth: dict[str, str | None] = {}
    for i in range(n):
        if i < n_a:
            run, rv, when = run_a, v1, T0 + timedelta(seconds=20 * i + (1800 if i >= n_a // 2 else 0))
        elif i < n - n_loose:
            k = i - n_a
            run, rv, when = run_b, v2, T0 + timedelta(hours=8, seconds=20 * k)
        else:
            run, rv, when = None, v2, T0 + timedelta(hours=13, minutes=5 * (i - n + n_loose))
        defect = str(rng.choice(DEFECTS)) if rng.random() < defect_rate else None
        score = float(np.clip(rng.normal(0.66, 0.11) if defect else rng.normal(0.36, 0.09), 0.01, 0.99))
        if drift_from is not None and rv is v2 and i >= n_a + drift_from * (n - n_loose - n_a) and not defect:
            score = min(0.99, score + 0.12)
        if real_images:
            if defect and bads:
                rgb, heat, src = _real_part(bads, n_bad, rng, full_res_maps)
                defect, n_bad = src.parent.name, n_bad + 1
            else:
                rgb, heat, src = _real_part(goods or bads, i, rng, full_res_maps)
            name = f"{src.parent.name}_{src.stem}_{i:05d}.png"
        else:
            rgb, heat = _synthetic_part(rng, defect, side)
            if full_res_maps:
                heat = cv2.resize(heat, (side, side), interpolation=cv2.INTER_CUBIC)
            name = f"img_{i:05d}.png"
        data = _png(rgb)
        image_key = store.artifacts.put_bytes(data, ".png")
        threshold = rv.body["threshold"]
        band = rv.body.get("uncertain_band")
        if band:
            verdict = Verdict.FAIL if score >= band[1] else Verdict.PASS if score < band[0] else Verdict.UNCERTAIN
        else:
            verdict = Verdict.FAIL if score >= threshold else Verdict.PASS
        random_weights = run is run_b and (i - n_a) < random_weight_parts
        item = NewInspection(
            content_hash=hashlib.sha256(data).hexdigest(),
            recipe_version_id=rv.id,
            score=score,
            threshold=threshold,
            verdict=verdict,
            detector="anomalydino",
            model_id="dinov2-small",
            source="camera:0" if run else "folder:/parts/manual",
            file_path=f"/parts/{'shift-a' if run is run_a else 'shift-b' if run else 'manual'}/{name}",
            run_id=run.id if run else None,
            inspected_at=when,
            latency_ms=float(rng.normal(85, 12)),
            random_weights=random_weights,
            image_artifact=image_key,
            heatmap_artifact=store.artifacts.save_heatmap(heat, compact=not full_res_maps),
            thumbnail_artifact=store.artifacts.save_thumbnail(rgb, max_side=thumb_side),
            caption_status=CaptionStatus.PENDING if verdict != Verdict.PASS else None,
        )
        items.append(item)
        truth[item.id] = defect
    store.add_inspections(items)
    _captions_and_reviews(store, items, truth, rng, vocabulary, object_name)
    store.finish_run(run_a.id, ended_at=T0 + timedelta(seconds=20 * n_a + 1900))
    store.finish_run(run_b.id, ended_at=T0 + timedelta(hours=8, seconds=20 * (n - n_a - n_loose) + 60))
    return Station(store, v1.id, v2.id, run_a.id, run_b.id, n)


def _captions_and_reviews(
    store: InspectionStore, items: list[NewInspection], truth, rng, vocabulary, object_name: str
) -> None:
    undo_done = 0
    for item in items:
        defect = truth[item.id]
        if item.verdict != Verdict.PASS:
            guess = defect or str(rng.choice(vocabulary))
            if rng.random() < 0.85:
                store.set_caption(
                    item.id,
                    status=CaptionStatus.DONE,
                    defect_type=guess,
                    defect_confidence=0.8,
                    caption=CAPTIONS.get(guess, "a {defect} on the {where} side of the {obj}").format(
                        where=rng.choice(WHERE), defect=guess, obj=object_name
                    ),
                )
            else:
                store.set_caption(item.id, status=CaptionStatus.MISSING, reason="captioner not installed")
        operator = "Ana Lima" if item.inspected_at.hour < 12 else "Ben Okafor"
        if item.verdict == Verdict.UNCERTAIN:
            if defect:
                store.add_override(item.id, operator, Verdict.FAIL, defect, note="visible under the ring light")
            else:
                store.add_override(item.id, operator, Verdict.PASS, note="reflection, part is fine")
        elif item.verdict == Verdict.FAIL and not defect:
            store.add_override(item.id, operator, Verdict.PASS, note="dust on the part, wiped and rechecked")
            if undo_done < 2:
                store.undo_last_override(item.id, "QA Lead", note="re-inspected: the mark is a real dent")
                if undo_done == 1:
                    store.add_override(item.id, "QA Lead", Verdict.FAIL, "dent", note="confirmed under microscope")
                undo_done += 1
        elif item.verdict == Verdict.FAIL and rng.random() < 0.4:
            store.add_override(item.id, operator, Verdict.FAIL, defect, note=None)  # a confirmation with label
        elif item.verdict == Verdict.PASS and defect and item.score > 0.42:
            store.add_override(item.id, operator, Verdict.FAIL, defect, note="=found at final check, +2 mm")
