"""The ``inspector`` command line.

Every sub-command imports what it needs inside its handler, so ``inspector --help`` and
``inspector models list`` start without loading torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from inspector import __version__
from inspector.core.recipe import DETECTORS
from inspector.errors import InspectorError, report_unexpected
from inspector.operators_cli import PIN_HELP

RANDOM_HELP = (
    "build the models with RANDOM WEIGHTS (tests and benchmarks only: results are meaningless and are marked so)"
)


def _fmt(value: float) -> str:
    return "  n/a" if value != value else f"{100 * value:5.1f}"


# -- models ---------------------------------------------------------------------------------------
def cmd_models_list(args: argparse.Namespace) -> int:
    from inspector.console import format_rows
    from inspector.core.registry import load_registry

    specs = load_registry()
    rows = []
    for spec in specs.values():
        where = spec.weights_location()
        rows.append(
            {
                "id": spec.id,
                "role": spec.role,
                "backend": spec.backend,
                "architecture": spec.architecture + (f" / {spec.pretrained}" if spec.pretrained else ""),
                "size_mb": spec.size_mb,
                "weights": "present" if where else "missing",
                "location": str(where) if where else "",
                "hub_id": spec.hub_id,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        format_rows(
            ["model", "role", "architecture", "size", "weights"],
            [[r["id"], r["role"], r["architecture"], f"{r['size_mb']} MB", r["weights"]] for r in rows],
        )
    )
    missing = [r["id"] for r in rows if r["weights"] == "missing"]
    if missing:
        print(
            "\nMissing weights: 'inspector models download MODEL' (with internet) or "
            "'inspector models import PATH --model MODEL' (air-gapped station)."
        )
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    from inspector.backbones.checking import check_weights
    from inspector.core.registry import import_weights

    checked = []
    target = import_weights(
        Path(args.path),
        args.model,
        check=lambda spec, staged, given: checked.append(check_weights(spec, staged, given)),
    )
    result = checked[0]
    print(
        f"Imported weights of '{args.model}' into {target}: {result.tensors} tensors loaded into its "
        f"architecture; fingerprint {result.fingerprint}"
    )
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    from inspector.backbones.download import download_weights
    from inspector.core.registry import get_spec

    path = download_weights(get_spec(args.model))
    print(f"Downloaded '{args.model}' to {path} (every file checked)")
    return 0


# -- eval -----------------------------------------------------------------------------------------
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


# -- bench ----------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from inspector.backbones.machine import load_average
    from inspector.backbones.openvino_backend import openvino_available
    from inspector.bench import DEFAULT_DETECTORS, BenchConfig, format_table, machine_header, run_config_isolated

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
                dtypes = ["bfloat16", "float32"] if backend == "torch" else ["float32", "int8"]
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


# -- run ------------------------------------------------------------------------------------------
def _run_exit_codes() -> str:
    from inspector.pipeline.events import RUN_EXIT_CODES

    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in RUN_EXIT_CODES.items())


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from inspector.console import ProgressBar
    from inspector.core.progress import ProgressState
    from inspector.core.provenance import require_calibration
    from inspector.core.recipe import Recipe, load_recipe
    from inspector.detectors.factory import detector_for_recipe
    from inspector.pipeline import InspectionPipeline, fit_for_recipe
    from inspector.plant import cli as plant_cli
    from inspector.sources import make_source
    from inspector.store import open_store

    args.db = plant_cli.run_database(args)  # --db postgresql://...: spool here, forward there
    if args.recipe:
        recipe = load_recipe(args.recipe)
    else:
        recipe = Recipe(name="default zero-shot", object_name=args.object or "object", detector="winclip")
    if args.operator:  # before any model loads: a PIN is asked when the station requires one
        from inspector.operators_cli import check_operator

        check_operator(args.db, args.operator, pin_stdin=args.pin_stdin)
    from inspector.sources.entries import ReadLimits

    limits = ReadLimits(max_bytes=int(args.max_image_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6))
    source = make_source(
        args.source,
        watch=args.watch,
        include_existing=args.include_existing,
        recursive=args.recursive,
        limits=limits,
        sample_fps=args.sample_fps,
    )
    out_lock = threading.Lock()

    plant = None

    def on_result(result) -> None:
        if plant is not None:
            plant.pipeline_result(result)
        if args.json:
            with out_lock:
                print(json.dumps(result.to_json()), flush=True)
        elif result.status.value in ("skipped", "error"):
            with out_lock:
                print(f"{result.status.value}: {result.path or result.index}: {result.reason}", file=sys.stderr)

    progress = ProgressState(None if args.quiet else ProgressBar("run"))
    detector = detector_for_recipe(
        recipe, device=args.device, dtype=args.dtype, random_weights=args.random_weights, backend=args.backend
    )
    warning = require_calibration(recipe, detector.info, args.recipe)  # refused: exit 2, nothing scored
    if warning:
        print(f"inspector: warning: {warning}", file=sys.stderr)
    fit_for_recipe(detector, recipe)
    store = open_store(args.db, durability=args.durability) if args.db else open_store(durability=args.durability)
    for notice in store.db.notices:
        print(f"inspector: {notice}", file=sys.stderr)
    captions = caption_writer = None
    plant_lines: list[str] = []
    try:
        plant = plant_cli.start_for_store(args, store)
        if args.captioner != "none":
            from inspector.captioning import create_caption_scheduler, store_callback
            from inspector.store import StoreWriter

            caption_writer = StoreWriter(store, name="inspector-captions")
            captions = create_caption_scheduler(
                store_callback(caption_writer),
                captioner=args.captioner,
                detector=detector,
                device=args.device,
                dtype=args.dtype,
                random_weights=args.random_weights,
            )
        pipeline = InspectionPipeline(
            recipe,
            detector,
            store,
            source,
            batch_size=args.batch_size,
            operator=args.operator,
            keep_images=args.keep_images,
            on_result=on_result,
            progress=progress,
            lot=args.lot,
            captions=captions,
        )
        previous = signal.signal(signal.SIGINT, lambda *_: pipeline.stop())
        previous_term = signal.signal(signal.SIGTERM, lambda *_: pipeline.stop(terminated=True))
        try:
            summary = pipeline.run()
            if captions is not None and not summary.cancelled:
                captions.wait_idle(args.caption_wait)  # the rest are marked missing, with the reason
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, previous_term)
    finally:
        if captions is not None:
            captions.close(timeout=30)  # before its writer: outcomes go through it
        if caption_writer is not None:
            caption_writer.close()
        plant_lines = plant_cli.finish_for_run(plant, args.forward_wait)
        store.close()
    if args.json:
        print(json.dumps(summary.to_json()), flush=True)
    else:
        print(
            f"{summary.inspected} inspected: {summary.passed} pass, {summary.failed} fail, "
            f"{summary.uncertain} uncertain; {summary.duplicates} already inspected"
            + (f" ({summary.duplicates_flagged} of them failed or uncertain)" if summary.duplicates_flagged else "")
            + f", {summary.skipped} skipped"
            + (f", {summary.dropped_frames} frames dropped" if summary.dropped_frames else "")
            + (f", {summary.wrong_parts} WRONG PART" if summary.wrong_parts else "")
            + f"; {summary.images_per_s:.1f} images/s over {summary.seconds:.1f} s"
        )
        if summary.timeline_peaks:
            from inspector.core.timeline import format_time

            peaks = ", ".join(f"{format_time(p.time_s)} (score {p.score:.3f})" for p in summary.timeline_peaks)
            print(f"score peaks in the video: {peaks}")
        if summary.random_weights:
            print("RANDOM WEIGHTS were used: these verdicts are meaningless (and are marked so in the database).")
    for line in plant_lines:
        print(f"inspector: {line}", file=sys.stderr)
    if summary.error:
        print(f"inspector: the run stopped: {summary.stop_message}", file=sys.stderr)
    elif summary.terminated or summary.cancelled:
        print(
            f"inspector: {'stopped (SIGTERM)' if summary.terminated else 'interrupted'}; run closed.", file=sys.stderr
        )
    return summary.exit_code


# -- recipes --------------------------------------------------------------------------------------
def cmd_recipe_new(args: argparse.Namespace) -> int:
    from inspector.core.recipe import Recipe, save_recipe
    from inspector.sources.folder import scan_images

    refs: list[str] = []
    for item in args.references or ():
        path = Path(item)
        if path.is_dir():
            refs += [str(p.resolve()) for p in scan_images(path)]
        elif path.is_file():
            refs.append(str(path.resolve()))
        else:
            raise InspectorError(f"Reference {path} does not exist.")
    if args.shots:
        refs = refs[: args.shots]
    recipe = Recipe(
        name=args.name,
        object_name=args.object,
        detector=args.detector,
        model=args.model or "",
        references=tuple(refs),
        defect_classes=tuple(args.defect or ()),
    )
    if recipe.few_shot and not refs:
        raise InspectorError(f"Detector '{recipe.detector}' needs good reference images (--references).")
    save_recipe(recipe, args.path)
    print(
        f"Recipe '{recipe.name}' written to {args.path} ({len(refs)} references). "
        f"Next: inspector recipe calibrate {args.path}"
    )
    return 0


def cmd_recipe_calibrate(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe, save_recipe
    from inspector.recipes import calibrate_recipe

    recipe = load_recipe(args.path)
    extra = [Path(p) for p in args.images] if args.images else []
    recipe, calibration = calibrate_recipe(
        recipe,
        extra,
        quantile=args.quantile,
        margin=args.margin,
        band=args.band,
        device=args.device,
        dtype=args.dtype,
        random_weights=args.random_weights,
        backend=args.backend,
    )
    save_recipe(recipe, args.path)
    band = calibration.uncertain_band
    print(
        f"Calibrated from {calibration.n_good} good scores ({calibration.method}): "
        f"min {calibration.good_min:.4f}, median {calibration.good_median:.4f}, max {calibration.good_max:.4f}"
    )
    print(f"threshold {calibration.threshold:.4f}" + (f", uncertain {band[0]:.4f} .. {band[1]:.4f}" if band else ""))
    if args.random_weights:
        print("RANDOM WEIGHTS were used: this threshold is meaningless; calibrate again with real weights.")
    return 0


def cmd_recipe_show(args: argparse.Namespace) -> int:
    from inspector.core.recipe import load_recipe

    print(json.dumps(load_recipe(args.path).to_dict(), indent=2))
    return 0


# -- gui ------------------------------------------------------------------------------------------
def run_gui(argv: list[str]) -> int:
    """Start the station window (its own options: ``inspector gui --help``)."""
    import os

    has_display = any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    wants_help = any(a in ("-h", "--help") for a in argv)
    if sys.platform.startswith("linux") and not has_display and not wants_help:
        raise InspectorError(
            "No display was found (DISPLAY / WAYLAND_DISPLAY are not set): the station window needs a desktop "
            "session. Without one, inspect with 'inspector run --source ...' and review the results later."
        )
    from inspector.ui.app import main as gui_main

    return int(gui_main(argv) or 0)


# -- parser ---------------------------------------------------------------------------------------
def _add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--dtype",
        default="auto",
        help="auto (measured per machine: bf16 where the CPU is fast at it), float32, bfloat16, float16",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "openvino"],
        help="CPU inference runtime of the image encoder: auto (measured once per machine and model, "
        "remembered), torch, openvino (checked against torch at start-up)",
    )
    p.add_argument("--random-weights", action="store_true", help=RANDOM_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="Inspector: visual inspection station (zero- and few-shot anomaly detection).",
    )
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="the model registry: list, import or download weights")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("list", help="each registered model and whether its weights are here")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("import", help="register weights copied onto this (air-gapped) station")
    p.add_argument("path", help="weights file (open_clip) or model folder with config.json (transformers)")
    p.add_argument("--model", required=True, help="registry id, e.g. dinov2-small")
    p.set_defaults(func=cmd_models_import)
    p = msub.add_parser("download", help="fetch weights from the model hub (needs internet)")
    p.add_argument("model", help="registry id")
    p.set_defaults(func=cmd_models_download)

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
    _add_runtime(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="images/s and peak memory of each detector on this machine")
    p.add_argument("--detector", action="append", choices=list(DETECTORS))
    p.add_argument("--model", help="registry id (default: each detector's)")
    p.add_argument("--device", default="auto", help="auto = CPU and, where present, the GPU")
    p.add_argument(
        "--dtype",
        default="",
        help="comma list; default torch bf16,fp32 and OpenVINO fp32,int8 on CPU, fp16 on GPU (int8: OpenVINO only)",
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
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "run",
        help="inspect a folder, hot folder, camera, video file or stream and log verdicts",
        epilog=_run_exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        required=True,
        help="folder, image file, camera index (0), video file, rtsp:// or http:// stream; "
        "'hot:FOLDER' or --watch for a hot folder",
    )
    p.add_argument("--recipe", help="recipe file (default: zero-shot WinCLIP with threshold 0.5)")
    p.add_argument("--object", help="object name for the default recipe")
    p.add_argument("--watch", action="store_true", help="watch the folder for new files until interrupted")
    p.add_argument("--include-existing", action="store_true", help="hot folder: also inspect files already there")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--max-image-mb", type=float, default=256, help="largest image file read (MiB; larger: skipped)")
    p.add_argument(
        "--max-megapixels", type=float, default=40, help="largest image decoded (megapixels, checked from its header)"
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--operator", help="operator name kept with the run (the PIN is asked when the station requires PINs)"
    )
    p.add_argument("--pin-stdin", action="store_true", help=PIN_HELP)
    p.add_argument("--lot", help="lot / batch label kept with the run")
    p.add_argument(
        "--keep-images",
        default="flagged",
        choices=["all", "flagged", "none"],
        help="which parts get an image copy in the data folder (thumbnails and heatmaps always)",
    )
    p.add_argument(
        "--db",
        help="database file (default: <data folder>/inspector.db; INSPECTOR_DATA_DIR), or a central "
        "postgresql:// URL: stored in the default file (the spool) and forwarded there",
    )
    p.add_argument(
        "--durability",
        default="normal",
        choices=["normal", "full"],
        help="normal: nothing reported stored is lost in a crash or kill -9; full: not in a power cut "
        "either (an fsync per commit)",
    )
    p.add_argument(
        "--captioner",
        default="none",
        choices=["none", "blip-base", "blip2-opt-2.7b"],
        help="caption failed and uncertain parts (after their verdicts are stored; never delays scoring)",
    )
    p.add_argument(
        "--caption-wait",
        type=float,
        default=600.0,
        help="seconds to wait at the end for captions still being written (default 600)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines on stdout: one per part, then a summary")
    p.add_argument(
        "--sample-fps",
        type=float,
        default=None,
        metavar="N",
        help="video files, cameras and streams: score at most N frames per second of video (default: every frame)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_runtime(p)
    from inspector.plant.cli import add_run_arguments

    add_run_arguments(p)
    p.set_defaults(func=cmd_run)

    sub.add_parser(
        "gui", help="the station window: live inspection, recipes, review queue (gui --help)", add_help=False
    )
    from inspector.reports.cli import register as register_reports

    register_reports(sub)
    from inspector.audit_cli import register as register_audit

    register_audit(sub)
    from inspector.operators_cli import register as register_operators

    register_operators(sub)

    from inspector.plant.cli import register as register_plant

    register_plant(sub)

    from inspector.training.cli import register as register_training

    register_training(sub, _add_runtime)

    recipe = sub.add_parser("recipe", help="create, calibrate and show recipes")
    rsub = recipe.add_subparsers(dest="recipe_command", metavar="ACTION", required=True)
    p = rsub.add_parser("new", help="write a new recipe file")
    p.add_argument("path", help="recipe file to write (.json)")
    p.add_argument("--name", required=True)
    p.add_argument("--object", default="object", help="what the part is called, e.g. 'ball screw'")
    p.add_argument("--detector", default="anomalydino", choices=list(DETECTORS))
    p.add_argument("--model", help="registry id of the backbone")
    p.add_argument("--references", nargs="*", help="good reference images or folders")
    p.add_argument("--shots", type=int, default=0, help="keep only the first N references")
    p.add_argument("--defect", action="append", help="a defect class of this product (repeatable)")
    p.set_defaults(func=cmd_recipe_new)
    p = rsub.add_parser("calibrate", help="set the threshold and uncertain band from good parts")
    p.add_argument("path", help="recipe file")
    p.add_argument("--images", nargs="*", help="held-out good images (else leave-one-out on references)")
    p.add_argument("--quantile", type=float, default=0.99)
    p.add_argument("--margin", type=float, default=1.0, help="standard deviations above the quantile")
    p.add_argument("--band", type=float, default=1.0, help="uncertain band half-width in std (0: none)")
    _add_runtime(p)
    p.set_defaults(func=cmd_recipe_calibrate)
    from inspector.recalibration_cli import register as register_recalibrate

    register_recalibrate(rsub)
    p = rsub.add_parser("show", help="print a recipe")
    p.add_argument("path")
    p.set_defaults(func=cmd_recipe_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["gui"]:  # the window parses its own options
        try:
            return run_gui(argv[1:])
        except InspectorError as exc:
            print(f"inspector: {exc}", file=sys.stderr)
            return exc.exit_code
        except Exception as exc:  # noqa: BLE001 - one plain message, never a traceback
            return report_unexpected(exc, verbose="-v" in argv or "--verbose" in argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except InspectorError as exc:
        print(f"inspector: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("inspector: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one plain message, never a traceback
        return report_unexpected(exc, verbose=args.verbose)
