"""The ``inspector`` command line: it parses and dispatches. Each package registers its own
sub-commands (``run_cli``, ``recipe_cli``, ``reports.cli``, ...); every sub-command imports what it
needs inside its handler, so ``inspector --help`` and ``inspector models list`` start without torch.
"""

from __future__ import annotations

import argparse
import logging
import sys

from inspector import __version__
from inspector.console import RANDOM_HELP
from inspector.errors import InspectorError, report_unexpected


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
        help="auto (measured per machine: bf16 where the CPU is fast at it), float32, bfloat16, float16; "
        "int8 (run: the CPU encoder on OpenVINO INT8, used only where it agrees with fp32 on the recipe's "
        "held-out good parts, else OpenVINO fp32, said at start-up)",
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

    from inspector.backbones.cli import register as register_models

    register_models(sub)
    from inspector.evaluation_cli import register as register_evaluation

    register_evaluation(sub, _add_runtime)

    from inspector.run_cli import register as register_run

    register_run(sub, _add_runtime)

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
    from inspector.caption_cli import register as register_captions

    register_captions(sub)

    from inspector.recipe_cli import register as register_recipe

    register_recipe(sub, _add_runtime)
    from inspector.golden_cli import register as register_golden

    register_golden(sub, _add_runtime)
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
