"""Benchmark: training time of each trained detector, inference images/s against AnomalyDINO 4-shot,
and the distilled student's speed ratio over its WinCLIP+ teacher with its agreement figures.

Real architectures (DINOv2-small, CLIP ViT-B-16-plus-240) with random weights (compute does not
depend on the weight values), real Magnetic Tile images from ../shared/datasets. Sizes are kept
modest for a shared, loaded machine and printed with the results: see ``--help``.

    .venv/bin/python tests/bench/bench_training.py --parts 50,300 --json bench_training.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "datasets" / "magnetic_tile" / "magnetic_tile"


def cpu_name() -> str:
    import re

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = sorted(set(re.findall(r"\b(avx512_bf16|amx_bf16|avx512f|avx2)\b", text)))
    return f"{model.group(1) if model else 'unknown'} ({', '.join(flags)})"


def images(folder: Path, n: int, side: int) -> list[np.ndarray]:
    import cv2

    from inspector.core.images import load_image

    files = sorted(folder.glob("*.jpg"))[:n]
    if len(files) < n:
        raise SystemExit(f"{folder} has only {len(files)} images, {n} wanted")
    return [cv2.resize(load_image(p), (side, side), interpolation=cv2.INTER_AREA) for p in files]


def ips(detector, batch: list[np.ndarray], repeats: int) -> float:
    detector.predict(batch[:2])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.predict(batch)
        times.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times)


def make(method: str, settings: dict, dtype: str):
    from inspector.detectors.factory import create_detector

    return create_detector(method, object_name="tile", device="cpu", dtype=dtype, random_weights=True, params=settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="50,300", help="library sizes to train on")
    parser.add_argument("--methods", default="memory,simplenet,promptad,student")
    parser.add_argument("--side", type=int, default=256, help="images are resized to this square first")
    parser.add_argument("--resolution", type=int, default=224, help="DINOv2 input (memory, simplenet, AnomalyDINO)")
    parser.add_argument("--simplenet-epochs", type=int, default=4)
    parser.add_argument("--promptad-epochs", type=int, default=20)
    parser.add_argument("--student-epochs", type=int, default=10)
    parser.add_argument("--student-parts", type=int, default=50, help="most parts the student trains on")
    parser.add_argument("--infer", type=int, default=16, help="images per timed inference batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    from inspector.core.agreement import agreement
    from inspector.core.calibration import calibrate_threshold
    from inspector.core.metrics import image_auroc
    from inspector.detectors.synthetic import synthetic_defect

    sizes = [int(v) for v in args.parts.split(",")]
    methods = args.methods.split(",")
    pool = images(DATA / "train" / "good", max(sizes), args.side)
    test = images(DATA / "test" / "good", args.infer, args.side)
    settings = {
        "memory": {"resolution": args.resolution, "coreset_ratio": 0.1},
        "simplenet": {"resolution": args.resolution, "epochs": args.simplenet_epochs},
        "promptad": {"epochs": args.promptad_epochs},
        "student": {"epochs": args.student_epochs},
    }
    out = {"cpu": cpu_name(), "args": vars(args), "training": [], "inference": [], "student": None}
    print(f"CPU: {out['cpu']}; settings {settings}", flush=True)

    baseline = make("anomalydino", {"resolution": args.resolution}, args.dtype)
    baseline.fit(pool[:4])
    base_ips = ips(baseline, test, args.repeats)
    out["inference"].append({"detector": "anomalydino 4-shot", "images_per_s": base_ips})
    print(f"anomalydino 4-shot: {base_ips:.2f} img/s ({baseline.info.dtype})", flush=True)
    del baseline

    for method in methods:
        for n in sizes:
            if method == "student" and n > args.student_parts:
                continue
            detector = make(method, settings[method], args.dtype)
            start = time.perf_counter()
            report = detector.train(pool[:n])
            seconds = time.perf_counter() - start
            row = {"method": method, "parts": n, "seconds": seconds, "loss": [report.losses[0], report.losses[-1]],
                   "details": report.details, "dtype": detector.info.dtype}  # fmt: skip
            out["training"].append(row)
            print(f"train {method:9s} {n:4d} parts: {seconds:7.1f} s  {report.details}", flush=True)
            if n == sizes[0] or method != "student":
                speed = ips(detector, test, args.repeats)
                out["inference"].append({"detector": f"{method} ({n} parts)", "images_per_s": speed})
                print(
                    f"infer {method:9s} ({n} parts): {speed:.2f} img/s = {speed / base_ips:.2f}x AnomalyDINO",
                    flush=True,
                )
            if method == "student" and n == sizes[0]:
                teacher_ips = ips(detector.teacher, test, args.repeats)
                rng = np.random.default_rng(1)
                held = test + [synthetic_defect(i, rng)[0] for i in test]
                s_pred, t_pred = detector.predict(held), detector.teacher.predict(held)
                t_good = [p.score for p in t_pred[: len(test)]]
                a = agreement([p.score for p in s_pred], [p.score for p in t_pred], [p.anomaly_map for p in s_pred],
                              [p.anomaly_map for p in t_pred], calibrate_threshold(t_good).threshold)  # fmt: skip
                labels = [0] * len(test) + [1] * len(test)
                s_auroc = image_auroc(labels, [p.score for p in s_pred])
                t_auroc = image_auroc(labels, [p.score for p in t_pred])
                out["student"] = {"student_ips": speed, "teacher_ips": teacher_ips, "ratio": speed / teacher_ips,
                                  "ratio_vs_anomalydino": speed / base_ips, "student_auroc": s_auroc,
                                  "teacher_auroc": t_auroc, "auroc_difference": s_auroc - t_auroc,
                                  "goal_5x_met": speed / teacher_ips >= 5.0, **a.as_dict()}  # fmt: skip
                print(f"student {speed:.2f} img/s vs teacher WinCLIP+ {teacher_ips:.2f} img/s: "
                      f"{speed / teacher_ips:.1f}x (goal >= 5x: {'met' if speed / teacher_ips >= 5 else 'NOT met'}); "
                      f"{speed / base_ips:.1f}x AnomalyDINO 4-shot; I-AUROC on {len(test)} good + {len(test)} "
                      f"synthetic defects: student {s_auroc:.3f}, teacher {t_auroc:.3f} "
                      f"(difference {s_auroc - t_auroc:+.3f}); agreement {a.as_dict()}", flush=True)  # fmt: skip
            if args.json:  # after every step: a long run that is stopped keeps what it measured
                Path(args.json).write_text(json.dumps(out, indent=2, default=float) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
