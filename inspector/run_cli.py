"""``inspector run``: inspect a folder, hot folder, camera, video file or stream through the station
session and log every verdict (its options, its exit codes, and the run itself)."""

from __future__ import annotations

import argparse
import json
import sys

from inspector.errors import InspectorError
from inspector.operators_cli import PIN_HELP


def _run_exit_codes() -> str:
    from inspector.pipeline.events import RUN_EXIT_CODES

    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in RUN_EXIT_CODES.items())


def cmd_run(args: argparse.Namespace) -> int:
    import contextlib
    import signal
    import threading

    from inspector.console import ProgressBar
    from inspector.core.precision import encoder_choice
    from inspector.core.progress import Cancelled, ProgressState
    from inspector.core.provenance import require_calibration
    from inspector.core.recipe import Recipe, load_recipe
    from inspector.pipeline import DetectorReady, RunRequest, SessionConfig, open_session
    from inspector.plant import cli as plant_cli
    from inspector.sources import parse_source_spec

    encoder_choice(args.device, args.dtype, args.backend)  # e.g. --backend torch --dtype int8: exit 2 at once
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
    spec = parse_source_spec(args.source, watch=args.watch)
    out_lock = threading.Lock()

    def on_result(result) -> None:
        if args.json:
            with out_lock:
                print(json.dumps(result.to_json()), flush=True)
        elif result.status.value in ("skipped", "error"):
            with out_lock:
                print(f"{result.status.value}: {result.path or result.index}: {result.reason}", file=sys.stderr)

    progress = ProgressState(None if args.quiet else ProgressBar("run"))
    config = SessionConfig(
        database=args.db,
        durability=args.durability,
        device=args.device,
        dtype=args.dtype,
        random_weights=args.random_weights,
        captioner=args.captioner,
        backend=args.backend,
    )
    request = RunRequest(
        recipe,
        spec,
        operator=args.operator,
        lot=args.lot,
        batch_size=args.batch_size,
        keep_images=args.keep_images,
        include_existing=args.include_existing,
        recursive=args.recursive,
        limits=limits,
        sample_fps=args.sample_fps,
        recipe_path=args.recipe,
        on_golden=_print_golden,
    )

    def on_detector(note: DetectorReady) -> None:  # a refusal is raised by the run itself: exit 2, nothing scored
        if note.notice:  # e.g. the INT8 check's outcome
            print(f"inspector: {'warning: ' if note.warning else ''}{note.notice}", file=sys.stderr, flush=True)
        with contextlib.suppress(InspectorError):
            if warning := require_calibration(recipe, note.info, args.recipe):
                print(f"inspector: warning: {warning}", file=sys.stderr)

    plant_lines: list[str] = []
    with open_session(config) as session:
        for notice in session.store.db.notices:
            print(f"inspector: {notice}", file=sys.stderr)
        session.subscribe(on_detector, DetectorReady)
        plant = plant_cli.start_for_session(args, session)  # fed by the session's notifications
        previous = signal.signal(signal.SIGINT, lambda *_: session.stop())
        previous_term = signal.signal(signal.SIGTERM, lambda *_: session.stop(terminated=True))
        try:
            try:
                summary = session.run(request, progress, on_result=on_result)
            except Cancelled:  # stopped while the model loaded: nothing was scored
                terminated = session.terminated
                print(f"inspector: {'stopped (SIGTERM)' if terminated else 'interrupted'}.", file=sys.stderr)
                return 143 if terminated else 130
            if not summary.cancelled:
                session.wait_captions(args.caption_wait)  # the rest are marked missing, with the reason
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, previous_term)
            plant_lines = plant_cli.finish_for_run(plant, args.forward_wait)
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


def _print_golden(outcome) -> None:
    if outcome.check is None:
        return
    prefix = "inspector: " if outcome.passed else "inspector: warning: "
    print(prefix + outcome.message, file=sys.stderr, flush=True)


def register(sub, add_runtime) -> None:
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
        help="video files, cameras and streams: score at most N frames per second of video "
        "(default: the recipe's video_sample_fps, else every frame)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_runtime(p)
    from inspector.plant.cli import add_run_arguments

    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
