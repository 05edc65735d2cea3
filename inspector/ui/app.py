"""Start the station window: ``python -m inspector.ui`` or ``inspector gui``.

The window is on screen before anything heavy happens: torch and the models load on the inference
thread when a run starts, the database opens on a reader thread right after the window shows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

_T0 = time.perf_counter()
EXIT_NO_DISPLAY_LIBRARIES = 6  # the window's system libraries are missing (the message names them)


def build_parser() -> argparse.ArgumentParser:
    from inspector.core.precision import BACKENDS, PRECISIONS

    parser = argparse.ArgumentParser(
        prog="inspector gui", description="The inspection station window (live view, recipes, review queue)."
    )
    parser.add_argument("--operator", metavar="NAME", help="log in as NAME (skips the log-in dialog)")
    parser.add_argument(
        "--data-dir",
        metavar="PATH",
        help="data folder for this session (database, recipes, "
        "settings); default: INSPECTOR_DATA_DIR or the per-user data folder",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="open a central plant database (postgresql://...) instead of this station's: review and "
        "report every station's parts (images from the plant settings' artifact store)",
    )
    parser.add_argument("--recipe", metavar="PATH", help="select this recipe file in the live screen")
    parser.add_argument(
        "--source",
        metavar="SPEC",
        help="pre-fill the source: a folder, hot:FOLDER, a video file, a camera number or a stream URL",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the device setting")
    parser.add_argument(
        "--dtype",
        choices=PRECISIONS,
        help="override the precision setting (int8: OpenVINO on the CPU, used only where it agrees with fp32 "
        "on the recipe's held-out good parts)",
    )
    parser.add_argument("--backend", choices=BACKENDS, help="override the inference backend setting")
    parser.add_argument("--theme", choices=("light", "dark"), help="override the theme setting")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="DEMO ONLY: build the models with random weights (no weights needed; every verdict "
        "is meaningless and the window says so)",
    )
    parser.add_argument("--start", action="store_true", help="start inspecting at once (needs --recipe and --source)")
    parser.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)  # benchmarks
    return parser


def _source_choice(spec: str) -> tuple[str, str]:
    """(kind, target) for the live screen's source fields."""
    lowered = spec.lower()
    for prefix, kind in (
        ("hot:", "hot"),
        ("watch:", "hot"),
        ("folder:", "folder"),
        ("video:", "video"),
        ("camera:", "camera"),
    ):
        if lowered.startswith(prefix):
            return kind, spec[len(prefix) :]
    if spec.isdigit() or spec.startswith("/dev/video"):
        return "camera", spec
    if "://" in spec:
        return "stream", spec
    from pathlib import Path

    from inspector.sources import VIDEO_SUFFIXES

    if Path(spec).suffix.lower() in VIDEO_SUFFIXES:
        return "video", spec
    return "folder", spec


def main(argv: Sequence[str] | None = None) -> int:
    """Run the station window until it is closed; returns the process exit code."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if args.data_dir:
        os.environ["INSPECTOR_DATA_DIR"] = os.path.abspath(os.path.expanduser(args.data_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from inspector.ui.display_libs import missing_display_libraries, missing_message, uses_xcb

    if uses_xcb():
        missing = missing_display_libraries()
        if missing:  # before Qt, whose own message names one library, often the wrong one
            print(missing_message(missing), file=sys.stderr)
            return EXIT_NO_DISPLAY_LIBRARIES

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from inspector.ui import gc_guard
    from inspector.ui.main_window import MainWindow
    from inspector.ui.settings import load_settings
    from inspector.ui.theme import app_icon, apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "inspector"])
    gc_guard.install(app)  # Qt objects are only ever freed on the GUI thread
    app.setApplicationName("Inspector")
    app.setWindowIcon(app_icon())
    settings = load_settings()
    chosen = (("device", args.device), ("dtype", args.dtype), ("backend", args.backend), ("theme", args.theme))
    overrides = {k: v for k, v in chosen if v}
    if args.recipe:
        overrides["last_recipe"] = os.path.abspath(args.recipe)
    if args.source:
        kind, target = _source_choice(args.source)
        overrides.update(last_source_kind=kind, last_source=target)
    settings = replace(settings, **overrides)
    apply_theme(app, settings.theme)
    window = MainWindow(settings, operator=args.operator or "", random_weights=args.random_weights, database=args.db)
    if args.quit_after_show:

        def shown() -> None:
            torch_loaded = "torch" in sys.modules
            print(f"window-visible {time.perf_counter() - _T0:.3f} torch-loaded={torch_loaded}", flush=True)
            QTimer.singleShot(0, window.close)

        window.first_shown.connect(shown)
    if args.start:
        window.store_ready.connect(window.controller.start)
    window.show()
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
