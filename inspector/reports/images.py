"""Thumbnails and heatmap overlays of the listed parts, as JPEG bytes every format can embed.

The thumbnail is the one the station stored (else one is made from the stored image copy or the
original file); the overlay is the stored anomaly map, scaled per part from its lowest to its
highest value, coloured (blue low, red high) and blended over the thumbnail.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import cv2
import numpy as np
from PIL import Image

from inspector.core.progress import ProgressState
from inspector.errors import InspectorError
from inspector.reports.data import PHASE_IMAGES, ListedPart
from inspector.store import ArtifactStore, InspectionRecord
from inspector.store.part_image import CHANGED, part_image

THUMB_SIDE = 256
JPEG_QUALITY = 82
OVERLAY_ALPHA = 0.45


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def colorize(anomaly_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 ``(h, w, 3)`` of a map resized to ``size = (w, h)``, scaled over its own range."""
    resized = cv2.resize(np.asarray(anomaly_map, dtype=np.float32), size, interpolation=cv2.INTER_AREA)
    lo, hi = float(resized.min()), float(resized.max())
    levels = np.zeros(resized.shape, np.uint8) if hi <= lo else ((resized - lo) / (hi - lo) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def _thumbnail(artifacts: ArtifactStore, record: InspectionRecord) -> tuple[np.ndarray | None, str]:
    """The part's stored thumbnail (else its copy, else the original if it still is the inspected
    image) as RGB, and a note ("file changed since inspection", "image not kept", ...)."""
    choice = part_image(artifacts.path, record, prefer_thumbnail=True)
    note = CHANGED if choice.original_changed else ""
    if choice.path is None:
        return None, note or ("image not kept" if record.file_path is None else "image file missing")
    try:
        with Image.open(choice.path) as picture:
            picture.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            rgb = picture.convert("RGB")
        rgb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        return np.asarray(rgb), note
    except (OSError, ValueError):
        return None, note or "image file unreadable"


def part_images(artifacts: ArtifactStore, record: InspectionRecord) -> tuple[bytes | None, bytes | None, str]:
    """``(thumbnail JPEG, overlay JPEG, note)`` of one part; a missing one is None, the note says why."""
    thumb, note = _thumbnail(artifacts, record)
    thumb_bytes = None
    if thumb is not None:
        key = record.thumbnail_artifact
        stored = artifacts.path(key) if key and key.endswith(".jpg") else None
        if stored is not None and stored.is_file() and max(thumb.shape[:2]) <= THUMB_SIDE:
            thumb_bytes = stored.read_bytes()  # the station's own JPEG, as it is
        else:
            thumb_bytes = encode_jpeg(thumb)
    overlay_bytes = None
    if record.heatmap_artifact:
        try:
            anomaly_map = artifacts.load_heatmap(record.heatmap_artifact)
            if thumb is None:
                h, w = anomaly_map.shape
                scale = THUMB_SIDE / max(h, w)
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                overlay_bytes = encode_jpeg(colorize(anomaly_map, size))
            else:
                color = colorize(anomaly_map, (thumb.shape[1], thumb.shape[0]))
                blend = thumb.astype(np.float32) * (1 - OVERLAY_ALPHA) + color.astype(np.float32) * OVERLAY_ALPHA
                overlay_bytes = encode_jpeg(np.clip(blend, 0, 255).astype(np.uint8))
        except (InspectorError, ValueError, OSError, cv2.error):
            note = (note + "; " if note else "") + "heatmap unreadable"
    else:
        note = (note + "; " if note else "") + "no heatmap"
    return thumb_bytes, overlay_bytes, note


def add_images(
    artifacts: ArtifactStore, parts: list[ListedPart], progress: ProgressState | None = None
) -> list[ListedPart]:
    """The listed parts with their images filled in (in parallel: decoding releases the GIL)."""
    progress = progress or ProgressState()
    total = len(parts)
    progress.report(0, total, PHASE_IMAGES)
    out = list(parts)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report-images") as pool:
        futures = [pool.submit(part_images, artifacts, part.record) for part in parts]
        try:
            for i, future in enumerate(futures):
                progress.check()
                thumb, overlay, note = future.result()
                out[i] = replace(parts[i], thumbnail=thumb, overlay=overlay, image_note=note)
                if (i + 1) % 20 == 0 or i + 1 == total:
                    progress.report(i + 1, total, PHASE_IMAGES)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out
