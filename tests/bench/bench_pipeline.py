"""Pipeline benchmark (a script, not a test): the pipeline's own cost per image at 1024 x 1024.

    .venv/bin/python tests/bench/bench_pipeline.py [--images 60] [--batch-size 4]

A folder of 1024 x 1024 JPEG parts is inspected with AnomalyDINO (the real dinov2-small architecture,
random weights, 448 px, 1-shot) into a fresh store. Printed, per image, medians of ``--runs`` runs:

- wall time of the whole run (source thread decoding, hashing, scoring, artifacts, commits);
- time inside ``detector.predict`` and the bare DINOv2 forward pass on the same images;
- pipeline overhead = wall - predict: everything the pipeline adds around the detector
  (reading, hashing, deduplication, verdict, heatmap and thumbnail files, database);
- detector overhead = predict - forward: the detector's own pre/post-processing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def write_parts(folder: Path, n: int, side: int = 1024) -> list[Path]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
    paths = []
    for i in range(n):
        image = base.copy()
        image[i % side, :, :] = i % 256  # distinct content per file
        if i % 4 == 3:
            image[400:480, 500:580] = 255
        path = folder / f"part_{i:04d}.jpg"
        cv2.imwrite(str(path), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from inspector.core.images import load_image
    from inspector.core.recipe import Recipe
    from inspector.detectors.factory import create_detector
    from inspector.pipeline import InspectionPipeline
    from inspector.sources import make_source
    from inspector.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_parts(root / "parts", args.images)
        detector = create_detector("anomalydino", random_weights=True)
        detector.fit([load_image(paths[0])])
        images = [load_image(p) for p in paths[: args.batch_size]]
        detector.predict(images)  # warm-up
        recipe = Recipe(name="bench", detector="anomalydino", references=(str(paths[0]),), threshold=0.3)
        walls, predicts, forwards = [], [], []
        for run in range(args.runs):
            with open_store(root / f"db{run}" / "inspector.db") as store:
                pipeline = InspectionPipeline(
                    recipe, detector, store, make_source(root / "parts"), batch_size=args.batch_size
                )
                summary = pipeline.run()
            assert summary.inspected == args.images, summary
            walls.append(summary.seconds / args.images)
            predicts.append(summary.predict_seconds / args.images)
            start = time.perf_counter()
            for i in range(0, args.images, args.batch_size):
                detector.encoder_forward([load_image(p) for p in paths[i : i + args.batch_size]])
            forwards.append((time.perf_counter() - start) / args.images)
        wall, predict, forward = (statistics.median(v) * 1000 for v in (walls, predicts, forwards))
        # forward above includes decoding the JPEGs on this thread; time decoding alone to remove it
        start = time.perf_counter()
        for p in paths:
            load_image(p)
        decode = (time.perf_counter() - start) / len(paths) * 1000
        forward -= decode
        info = detector.info
        print(
            f"{args.images} images 1024x1024 JPEG, {info.detector} [{info.model_id}] {info.device}/{info.dtype}, "
            f"batch {args.batch_size}, medians of {args.runs} runs (random weights)"
        )
        print(f"  wall per image            {wall:7.1f} ms  ({1000 / wall:.1f} images/s)")
        print(f"  predict per image         {predict:7.1f} ms")
        print(f"  bare forward per image    {forward:7.1f} ms")
        print(f"  pipeline overhead         {wall - predict:7.1f} ms per image (wall - predict)")
        print(f"  detector overhead         {predict - forward:7.1f} ms per image (predict - forward)")
        print(f"  (JPEG decode alone        {decode:7.1f} ms per image, on the source thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
