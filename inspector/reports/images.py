"""Thumbnails and heatmap overlays of the listed parts, as JPEG bytes every format can embed.

The thumbnail is the one the station stored (else one is made from the stored image copy or the
original file); the overlay is the stored anomaly map rendered by :mod:`inspector.core.overlay`,
the window's own rendering: scaled to the part's threshold (and its recipe's uncertain band), so a
calm good part looks calm in the report as it does on the station.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import cv2
import numpy as np
from PIL import Image

from inspector.core.images import fit_size
from inspector.core.overlay import render_overlay
from inspector.core.progress import ProgressState
from inspector.errors import InspectorError
from inspector.reports.model import PHASE_IMAGES, ListedPart
from inspector.store import ArtifactStore, InspectionRecord
from inspector.store.part_image import CHANGED, part_image

THUMB_SIDE = 256
JPEG_QUALITY = 82


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def overlay_rgb(
    thumbnail: np.ndarray | None,
    anomaly_map: np.ndarray,
    threshold: float | None,
    band: tuple[float, float] | None = None,
) -> np.ndarray:
    """The report's overlay of one part (RGB): the window's rendering at thumbnail size."""
    if thumbnail is None:
        w, h = fit_size(anomaly_map.shape, THUMB_SIDE)
        thumbnail = np.zeros((h, w, 3), dtype=np.uint8)
    return render_overlay(thumbnail, anomaly_map, threshold=threshold, band=band, max_side=THUMB_SIDE)


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


def part_images(
    artifacts: ArtifactStore, record: InspectionRecord, band: tuple[float, float] | None = None
) -> tuple[bytes | None, bytes | None, str]:
    """``(thumbnail JPEG, overlay JPEG, note)`` of one part (``band``: its recipe's uncertain band);
    a missing one is None, the note says why."""
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
            overlay_bytes = encode_jpeg(overlay_rgb(thumb, anomaly_map, record.threshold, band))
        except (InspectorError, ValueError, OSError, cv2.error):
            note = (note + "; " if note else "") + "heatmap unreadable"
    else:
        note = (note + "; " if note else "") + "no heatmap"
    return thumb_bytes, overlay_bytes, note


def add_images(
    artifacts: ArtifactStore,
    parts: list[ListedPart],
    progress: ProgressState | None = None,
    *,
    bands: dict[str, tuple[float, float] | None] | None = None,
) -> list[ListedPart]:
    """The listed parts with their images filled in (in parallel: decoding releases the GIL).

    ``bands``: each recipe version's uncertain band, by id (the heat scale follows it, as in the window).
    """
    bands = bands or {}
    progress = progress or ProgressState()
    total = len(parts)
    progress.report(0, total, PHASE_IMAGES)
    out = list(parts)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report-images") as pool:
        futures = [
            pool.submit(part_images, artifacts, part.record, bands.get(part.record.recipe_version_id)) for part in parts
        ]
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
