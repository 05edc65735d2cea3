"""Part-identity check overhead (a script, not a test): scoring with the check on against off.

    .venv/bin/python tests/bench/bench_identity.py [--images 8] [--runs 3] [--detectors anomalydino winclip]

Ball-screw photos from ``../shared/datasets/bsdata`` are inspected through the real pipeline into a
fresh store, with the recipe's ``identity`` check off and on (text check ``auto``: WinCLIP shares its
CLIP embedding, AnomalyDINO its DINOv2 class token), alternating off/on ``--runs`` times with the same
fitted detector (real-size architectures, RANDOM weights). Printed per detector: median seconds per
part between the first and the last stored part (the steady state), the start-up cost (first part
stored after ``run()`` began, which includes the check's reference embeddings and calibration), and
the on/off ratios. The issue's goal: the check adds at most 10 % per part.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "bsdata" / "ball_screw"


def _run(recipe, detector, parts: Path, db: Path) -> tuple[float, float, int]:
    from inspector.pipeline import InspectionPipeline, PartStatus
    from inspector.sources import make_source
    from inspector.store import open_store

    stored: list[float] = []

    def on_result(result) -> None:
        if result.status is PartStatus.STORED:
            stored.append(time.perf_counter())

    with open_store(db) as store:
        start = time.perf_counter()
        summary = InspectionPipeline(recipe, detector, store, make_source(parts), on_result=on_result).run()
    assert summary.error is None and len(stored) >= 2, summary
    per_part = (stored[-1] - stored[0]) / (len(stored) - 1)
    return per_part, stored[0] - start, summary.wrong_parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--detectors", nargs="+", default=["anomalydino", "winclip"])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    args = parser.parse_args()

    from inspector.bench import machine_header
    from inspector.core.identity import IdentitySettings
    from inspector.core.images import load_image
    from inspector.core.recipe import Recipe
    from inspector.detectors.factory import create_detector

    load_before = os.getloadavg()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parts = root / "parts"
        parts.mkdir()
        for path in sorted((args.dataset / "test" / "good").glob("*.jpg"))[: args.images]:
            (parts / path.name).symlink_to(path)
        references = tuple(str(p) for p in sorted((args.dataset / "train" / "good").glob("*.jpg"))[:2])
        for name in args.detectors:
            detector = create_detector(name, object_name="ball screw", device="cpu", random_weights=True)
            if detector.needs_references:
                detector.fit([load_image(p) for p in references])
            detector.predict([load_image(sorted(parts.iterdir())[0])])  # warm-up
            base = Recipe(
                name="ball screw", object_name="ball screw", detector=name, references=references, threshold=0.3
            )
            off = dataclasses.replace(base, identity=IdentitySettings(enabled=False))
            on = dataclasses.replace(base, identity=IdentitySettings(enabled=True))
            timings: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
            for run in range(args.runs):
                for label, recipe in (("off", off), ("on", on)):
                    per_part, first, _wrong = _run(recipe, detector, parts, root / f"{name}-{label}-{run}.db")
                    timings[label].append((per_part, first))
            med = {
                k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in timings.items()
            }
            info = detector.info
            lines.append(
                f"{name} [{info.model_id}] {info.device}/{info.dtype}: per part {med['off'][0]:.3f} s off, "
                f"{med['on'][0]:.3f} s on (x{med['on'][0] / med['off'][0]:.3f}); first part after "
                f"{med['off'][1]:.2f} s off, {med['on'][1]:.2f} s on (start-up +{med['on'][1] - med['off'][1]:.2f} s)"
            )
    print(machine_header(load_before, os.getloadavg()))
    print(f"{args.images} ball-screw photos, medians of {args.runs} alternating off/on runs (RANDOM weights)")
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
