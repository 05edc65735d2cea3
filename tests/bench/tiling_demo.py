"""Tiled vs whole-image scoring of a 4096x3000 ball-screw mosaic with one small pitting defect.

Builds the test image from good BSData parts with one real pitting crop (about 90x60 px, from a
defective part, cut along its ground-truth mask box) pasted in, and a reference mosaic from other
good parts. Scores it with AnomalyDINO (DINOv2-small, random weights unless real ones are
installed) once on the whole image (resized to 448 px) and once as 4x3 overlapping tiles at 448
px, and saves a screenshot of the station's overlay view for both, side by side:

    QT_QPA_PLATFORM=offscreen python tests/bench/tiling_demo.py resources/screenshots/tiling_4096x3000.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "bsdata" / "ball_screw"


def mosaic(paths, width=4096, height=3000):
    from inspector.core.images import load_image

    tiles = [load_image(p) for p in paths]
    th, tw = tiles[0].shape[:2]
    rows, cols = -(-height // th), -(-width // tw)
    out = np.zeros((rows * th, cols * tw, 3), dtype=np.uint8)
    for i in range(rows * cols):
        t = tiles[i % len(tiles)]
        out[(i // cols) * th : (i // cols + 1) * th, (i % cols) * tw : (i % cols + 1) * tw] = t[:th, :tw]
    return out[:height, :width].copy()


def pitting_crop():
    from inspector.core.images import load_image

    image = load_image(ROOT / "test" / "pitting" / "000.jpg")
    mask = load_image(ROOT / "ground_truth" / "pitting" / "000_mask.png")[:, :, 0] > 127
    ys, xs = np.nonzero(mask)
    cy, cx = int(ys.mean()), int(xs.mean())
    return image[max(0, cy - 30) : cy + 30, max(0, cx - 45) : cx + 45].copy()


def main(out: str) -> None:
    from inspector.detectors.factory import create_detector
    from inspector.detectors.tiling import TiledDetector, TilingOptions

    good = sorted((ROOT / "train" / "good").glob("*.jpg"))
    test = mosaic(good[:12])
    reference = mosaic(good[12:24])
    crop = pitting_crop()
    y0, x0 = 1700, 2500
    test[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    box = (y0, x0, y0 + crop.shape[0], x0 + crop.shape[1])
    whole = create_detector("anomalydino", device="cpu", random_weights=True, backend="torch")
    whole.fit([reference])
    start = time.perf_counter()
    (plain,) = whole.predict([test])
    t_plain = time.perf_counter() - start
    tiled = TiledDetector(whole, TilingOptions(grid=(4, 3), overlap=0.125, reduce="max"))
    tiled.fit([reference])
    start = time.perf_counter()
    (stitched,) = tiled.predict([test])
    t_tiled = time.perf_counter() - start
    for name, pred, seconds in (("whole image", plain, t_plain), ("4x3 tiles", stitched, t_tiled)):
        amap = pred.anomaly_map
        inside = amap[box[0] : box[2], box[1] : box[3]].max()
        peak = np.unravel_index(np.argmax(amap), amap.shape)
        margin = 32  # the map is smoothed (sigma 4 px at 448 px, i.e. ~10-37 px here)
        hit = box[0] - margin <= peak[0] < box[2] + margin and box[1] - margin <= peak[1] < box[3] + margin
        rank = float((amap > inside).mean())
        print(
            f"{name}: {seconds:.2f} s, score {pred.score:.4f}, map max in defect {inside:.4f}, "
            f"global max {amap.max():.4f} at {peak} ({'at' if hit else 'away from'} the defect), "
            f"fraction of pixels above the defect's max {rank:.4%}"
        )
    screenshot(test, plain, stitched, box, out)


def screenshot(image, plain, stitched, box, out: str) -> None:
    from PySide6.QtWidgets import QApplication, QGridLayout, QLabel, QWidget

    from inspector.ui.heatmap_overlay import OverlayView, prepare_part

    app = QApplication.instance() or QApplication([])
    window = QWidget()
    grid = QGridLayout(window)
    y0, x0, y1, x1 = box
    zoom = (slice(max(0, y0 - 400), y1 + 400), slice(max(0, x0 - 600), x1 + 600))
    for col, (title, pred) in enumerate((("whole image at 448 px", plain), ("4x3 tiles at 448 px, max", stitched))):
        lo, hi = float(np.percentile(pred.anomaly_map, 1)), float(pred.anomaly_map.max())
        for row, (img, amap, label) in enumerate(
            ((image, pred.anomaly_map, "4096x3000"), (image[zoom], pred.anomaly_map[zoom], "zoom on the defect"))
        ):
            view = OverlayView(interactive=False)
            part = prepare_part(img, np.clip((amap - lo) / max(hi - lo, 1e-9), 0, 1), threshold=0.8, max_side=900)
            view.set_part(part)
            view.setMinimumSize(620, 460 if row == 0 else 380)
            grid.addWidget(QLabel(f"{title} - {label}"), row * 2, col)
            grid.addWidget(view, row * 2 + 1, col)
    window.resize(1280, 960)
    window.show()
    for _ in range(5):
        app.processEvents()
    window.grab().save(out)
    print(f"screenshot: {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tiling_4096x3000.png")
