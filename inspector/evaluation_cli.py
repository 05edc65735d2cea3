"""``inspector eval`` and ``inspector bench`` (registered by inspector.cli)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inspector.console import RANDOM_HELP
from inspector.core.detector_table import DETECTORS


def register(sub, add_runtime) -> None:
    p = sub.add_parser("eval", help="image/pixel AUROC, AUPRO and F1-max on an MVTec-AD-layout folder")
    p.add_argument("dataset", help="dataset root (category folders) or one category folder")
    p.add_argument(
        "--recipe",
        action="append",
        help="evaluate this recipe version as it inspects (its detector, references, trained artefact); "
        "repeat to compare versions side by side",
    )
    p.add_argument("--detector", default="anomalydino", choices=list(DETECTORS))
    p.add_argument("--model", help="registry id of the backbone (default: the detector's)")
    p.add_argument("--shots", type=int, default=1, help="good reference images per category (few-shot)")
    p.add_argument("--object", help="object name for WinCLIP prompts (default: 'object')")
    p.add_argument("--category", action="append", help="only this category (repeatable)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="which references are drawn")
    p.add_argument("--pixel-max-side", type=int, default=512, help="pixel metrics resolution bound")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_runtime(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="images/s and peak memory of each detector on this machine")
    p.add_argument("--detector", action="append", choices=list(DETECTORS))
    p.add_argument("--model", help="registry id (default: each detector's)")
    p.add_argument("--device", default="auto", help="auto = CPU and, where present, the GPU")
    p.add_argument(
        "--dtype",
        default="",
        help="comma list; default on CPU torch fp32 (and bf16 where the CPU has it), OpenVINO fp32,int8; fp16 on GPU "
        "(int8: OpenVINO only)",
    )
    p.add_argument("--backend", default="", help="comma list of torch,openvino (default both where installed)")
    p.add_argument("--good-images", help="good parts: INT8 calibration and its agreement check with fp32")
    p.add_argument("--tiles", help="COLSxROWS: score every image as overlapping tiles (e.g. 4x3)")
    p.add_argument("--image-size", help="WxH: resize the bench images first (e.g. 4096x3000)")
    p.add_argument("--batches", default="1,2,4,8", help="batch sizes to time")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per batch size (median kept)")
    p.add_argument("--images", help="folder of images to time on (default: generated 1024x1024)")
    p.add_argument("--random-weights", action="store_true", help=RANDOM_HELP)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument(
        "--isa",
        choices=["avx2", "avx512"],
        help="use no instruction set above this level (torch and OpenVINO): how a CPU without AMX / "
        "AVX-512 runs, emulated on this one (its instruction sets only, not its clock or memory)",
    )
    p.set_defaults(func=cmd_bench)


def _fmt(value: float) -> str:
    return "  n/a" if value != value else f"{100 * value:5.1f}"


def cmd_eval(args: argparse.Namespace) -> int:
    from inspector.console import ProgressBar
    from inspector.core.progress import ProgressState
    from inspector.detectors.factory import create_detector
    from inspector.evaluation import evaluate

    if args.recipe:
        from inspector.training.cli import eval_recipes

        return eval_recipes(args)
    root = Path(args.dataset)
    object_name = args.object or "object"

    def make():
        return create_detector(
            args.detector,
            model=args.model or "",
            object_name=object_name,
            device=args.device,
            dtype=args.dtype,
            random_weights=args.random_weights,
            backend=args.backend,
        )

    progress = ProgressState(ProgressBar("eval") if not args.quiet else None)
    report = evaluate(
        root,
        make,
        args.shots,
        batch_size=args.batch_size,
        seed=args.seed,
        pixel_max_side=args.pixel_max_side,
        categories=args.category or (),
        progress=progress,
    )
    print(format_eval_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


def format_eval_report(report) -> str:
    from inspector.console import format_rows

    rows = [
        [
            c.name,
            c.shots,
            c.n_test,
            c.n_defective,
            _fmt(c.metrics.image_auroc),
            _fmt(c.metrics.pixel_auroc),
            _fmt(c.metrics.aupro),
            _fmt(c.metrics.f1_max),
            f"{c.images_per_s:.1f}",
        ]
        for c in report.categories
    ]
    m = report.mean
    rows.append(
        [
            "mean",
            "",
            sum(c.n_test for c in report.categories),
            "",
            _fmt(m.image_auroc),
            _fmt(m.pixel_auroc),
            _fmt(m.aupro),
            _fmt(m.f1_max),
            "",
        ]
    )
    head = (
        f"{report.detector} [{report.model_id}] on {report.device}/{report.backend} {report.dtype}, "
        f"{report.shots}-shot, dataset {report.dataset}"
    )
    table = format_rows(
        ["category", "shots", "test", "defect", "I-AUROC", "P-AUROC", "AUPRO@0.3", "F1-max", "img/s"], rows
    )
    notes = "\n".join(["", *report.notes]) if report.notes else ""
    pixel = f"\n(pixel metrics on maps downscaled to at most {report.pixel_max_side} px per side; values in %)"
    return f"{head}\n{table}{pixel}{notes}"


def cmd_bench(args: argparse.Namespace) -> int:
    from inspector.backbones.machine import load_average
    from inspector.backbones.openvino_backend import openvino_available
    from inspector.backbones.runtime import cpu_bf16_flags
    from inspector.bench import DEFAULT_DETECTORS, BenchConfig, format_table, machine_header, run_config_isolated

    if args.isa:
        from inspector.backbones.machine import limit_isa

        limited = limit_isa(args.isa)  # inherited by every benchmark process
        print("instruction sets limited: " + " ".join(f"{k}={v}" for k, v in limited.items()), file=sys.stderr)
    detectors = args.detector or list(DEFAULT_DETECTORS)
    batches = tuple(sorted({int(b) for b in args.batches.split(",")}))
    devices = [args.device] if args.device != "auto" else _available_devices()
    default_backends = ["torch", "openvino"] if openvino_available() else ["torch"]
    backends = args.backend.split(",") if args.backend else default_backends
    results = []
    print(machine_header(load_average()), file=sys.stderr, flush=True)
    load_before = load_average()
    for device in devices:
        for backend in backends if device == "cpu" else ["torch"]:
            if args.dtype:
                dtypes = args.dtype.split(",")
            elif device != "cpu":
                dtypes = ["float16"]
            else:
                dtypes = ["float32", "int8"]
                if backend == "torch":  # bf16 only where the CPU has it (elsewhere many times slower)
                    dtypes = ["bfloat16", "float32"] if cpu_bf16_flags() else ["float32"]
            for name in detectors:
                for dtype in dtypes:
                    if dtype == "int8" and (backend != "openvino" or not args.good_images):
                        continue  # INT8 is OpenVINO's, and needs good images to be checked
                    print(f"benchmarking {name} on {device}/{backend}/{dtype} ...", file=sys.stderr, flush=True)
                    config = BenchConfig(
                        detector=name,
                        model=args.model or "",
                        device=device,
                        dtype=dtype,
                        backend=backend,
                        batches=batches,
                        repeats=args.repeats,
                        random_weights=args.random_weights,
                        image_folder=args.images,
                        good_folder=args.good_images,
                        tiles=args.tiles or "",
                        image_size=args.image_size or "",
                    )
                    results.append(run_config_isolated(config))
    print(format_table(results, load_before, load_average()))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
        print(f"JSON written to {args.json}")
    failed = [r for r in results if r.error]
    for r in failed:  # the whole message (the table shows its first line)
        print(f"inspector: {r.detector} on {r.device}/{r.dtype}: {r.error.strip()}", file=sys.stderr)
    return max((r.error_code for r in failed), default=0)


def _available_devices() -> list[str]:
    from inspector._torch import import_torch

    torch = import_torch()
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
