"""``inspector report`` and ``inspector export-dataset``: the command-line side of the reports.

``inspector.cli`` calls :func:`register` with its sub-parser set. Handlers import the heavy parts
(NumPy, Pillow, Qt for the PDF) only when they run.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.reports import DEFAULT_MAX_PARTS

if TYPE_CHECKING:
    from inspector.console import ProgressBar

REPORT_EXAMPLES = """examples:
  inspector report --from yesterday --to yesterday -o reports/          PDF, HTML and CSV of yesterday
  inspector report --lot L-17 -f pdf --paper letter -o lot17.pdf        one lot, one PDF on Letter paper
  inspector report --run "Shift A" --recipe bracket-A:2 -f csv -o a.csv  one run, one recipe version
  inspector report --from 8h -o .                                       the last 8 hours
  inspector report --list-runs                                          which runs there are
"""
DATASET_EXAMPLES = """examples:
  inspector export-dataset out/bracket --lot L-17                     reviewed parts of lot L-17
  inspector export-dataset out/all --include-unreviewed --uncertain aside --train-fraction 0.8
"""


def register(subparsers) -> None:
    """Add the ``report`` and ``export-dataset`` sub-commands to an argparse sub-parser set."""
    p = subparsers.add_parser(
        "report", help="inspection report (PDF, HTML, CSV) for a period, run, recipe or lot",
        description="Write an inspection report: counts per verdict before and after review, operator "
                    "decisions, score histogram and trend, defect types, and each flagged part with its "
                    "images and audit trail.",
        epilog=REPORT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    _add_scope(p)
    p.add_argument("-f", "--format", help="comma list of pdf, html, csv (default: all three, or the -o suffix)")
    p.add_argument(
        "-o",
        "--out",
        default=".",
        help="folder for the files (default: here), or a file name: report.pdf (its stem is used "
        "for the other formats)",
    )
    p.add_argument("--paper", choices=["a4", "letter"], default="a4", help="PDF paper size (default a4)")
    p.add_argument("--title", help="report title (default from the scope)")
    p.add_argument(
        "--max-parts",
        type=int,
        default=DEFAULT_MAX_PARTS,
        metavar="N",
        help=f"list at most N flagged or reviewed parts with images (default {DEFAULT_MAX_PARTS}; "
        "the CSV always has every inspection)",
    )
    p.add_argument("--utc", action="store_true", help="show times in UTC (default: this computer's time zone)")
    p.add_argument("--list-runs", action="store_true", help="list the runs (id, label, lot, operator) and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser(
        "export-dataset", help="export reviewed parts in MVTec AD layout (labels from operator decisions)",
        description="Copy reviewed parts into an MVTec AD folder: <category>/train/good, test/good, "
                    "test/<defect>, with the anomaly maps under anomaly_maps/ and a manifest.csv. Labels are "
                    "the verdicts after review; parts still uncertain are left out (or set aside).",
        epilog=DATASET_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("out", help="new (or empty) folder to write the dataset to")
    _add_scope(p)
    p.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="also export parts nobody reviewed, labelled by the model's verdict",
    )
    p.add_argument(
        "--uncertain",
        choices=["exclude", "aside"],
        default="exclude",
        help="parts still uncertain after review: leave out (default) or copy to <category>/uncertain",
    )
    p.add_argument(
        "--train-fraction",
        type=float,
        default=0.5,
        metavar="F",
        help="share of good parts put in train/good (default 0.5; 0: all in test/good)",
    )
    p.add_argument("--category", help="category folder name for all parts (default: the recipe name)")
    p.add_argument(
        "--maps",
        choices=["tiff", "npy", "none"],
        default="tiff",
        help="anomaly maps as float32 TIFF (default), .npy, or none",
    )
    p.add_argument(
        "--overlays",
        action="store_true",
        help="also write each part's heatmap overlay (PNG, as the station shows it) under overlays/",
    )
    p.add_argument(
        "--no-captioner-labels",
        action="store_true",
        help="defect folders from operator labels only (else the captioner's guess fills gaps)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_export_dataset)


def _add_scope(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to include (all given filters apply)")
    g.add_argument("--db", help="inspection database file or URL (default: the station's)")
    g.add_argument(
        "--from",
        dest="since",
        metavar="WHEN",
        help="start: 2025-03-01, '2025-03-01 06:00', today, yesterday, or 8h / 2d ago",
    )
    g.add_argument("--to", dest="until", metavar="WHEN", help="end (exclusive; a bare date includes that day)")
    g.add_argument("--run", help="run id (or its first characters) or run label, e.g. 'Shift A'")
    g.add_argument("--recipe", metavar="NAME[:VERSION]", help="recipe name, optionally one version: bracket-A:2")
    g.add_argument("--lot", help="every run logged with this lot")
    g.add_argument("--station", help="one station's parts (a central database holds many stations')")


class _PhaseBars:
    """A ProgressState callback that starts a new progress bar at each phase of the job."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.phase: str | None = None
        self.bar: ProgressBar | None = None

    def __call__(self, done: int, total: int, phase: str = "") -> None:
        if self.quiet:
            return
        from inspector.console import ProgressBar

        if phase != self.phase or self.bar is None:
            self.phase, self.bar = phase, ProgressBar(phase or "report")
        self.bar(done, total)


def open_store_arg(db: str | None):
    """The store named by ``--db`` (default: the station's); a missing file is an error, not a new database."""
    from inspector.reports.scope import ReportError
    from inspector.store import ReadOnlyError, default_database_path, open_store

    if db and "://" in db:
        from inspector.plant.settings import open_central_store

        return open_central_store(db)  # with the plant's artifact store (shared folder or S3)
    path = Path(db).expanduser() if db else default_database_path()
    if not path.is_file():
        raise ReportError(
            f"There is no inspection database at {path}. Give its file with --db, or set "
            "INSPECTOR_DATA_DIR to the station's data folder."
        )
    try:
        return open_store(path)
    except ReadOnlyError:  # an archive on read-only media, a disk remounted read-only: read a copy
        store = open_store(path, read_only=True)
        print(f"inspector: {store.db.notices[0]}", file=sys.stderr)
        return store


def resolve_run(store, text: str) -> str:
    """A run id from an id, a unique id prefix (6+ characters) or a unique run label."""
    from inspector.reports.scope import ReportError, all_runs

    runs = all_runs(store)
    text = text.strip()
    for match in (
        [r for r in runs if r.id == text],
        [r for r in runs if len(text) >= 6 and r.id.startswith(text)],
        [r for r in runs if (r.label or "").strip().casefold() == text.casefold()],
    ):
        if len(match) == 1:
            return match[0].id
        if len(match) > 1:
            ids = ", ".join(f"{r.id} ({r.started_at:%Y-%m-%d %H:%M})" for r in match[:5])
            raise ReportError(f"'{text}' matches {len(match)} runs: {ids}. Give the run id.")
    raise ReportError(f"No run matches '{text}'. List them with: inspector report --list-runs")


def build_scope(args: argparse.Namespace, store):
    from inspector.reports.scope import ReportError, ReportScope, parse_when

    tz = _tz(args)
    name, version = args.recipe, None
    if args.recipe and (m := re.fullmatch(r"(.+):v?(\d+)", args.recipe.strip())):
        name, version = m.group(1), int(m.group(2))
    try:
        return ReportScope(
            since=parse_when(args.since, tz=tz) if args.since else None,
            until=parse_when(args.until, end=True, tz=tz) if args.until else None,
            run_id=resolve_run(store, args.run) if args.run else None,
            recipe_name=name,
            recipe_version=version,
            lot=args.lot,
            station=getattr(args, "station", None),
        )
    except ValueError as error:
        raise ReportError(str(error)) from error


def _tz(args: argparse.Namespace):
    from datetime import UTC

    return UTC if getattr(args, "utc", False) else None


def _list_runs(store, tz) -> int:
    from inspector.console import format_rows
    from inspector.reports.scope import all_runs, format_time
    from inspector.reports.sections import run_status

    rows = [
        [
            r.id,
            format_time(r.started_at, tz),
            run_status(r),
            r.label or "-",
            r.lot or "-",
            r.operator or "-",
            r.counts.total,
            r.counts.failed,
            r.counts.uncertain,
        ]
        for r in all_runs(store)
    ]
    if not rows:
        print("No runs in this database yet.")
        return 0
    print(format_rows(["run id", "started", "ended", "label", "lot", "operator", "parts", "fail", "uncertain"], rows))
    return 0


def _outputs(args: argparse.Namespace, scope) -> dict[str, Path]:
    from inspector.reports.export import FORMATS, check_formats, default_outputs

    out = Path(args.out).expanduser()
    suffix = out.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        formats = check_formats(args.format.split(",")) if args.format else [suffix]
        return {f: out.with_suffix(f".{f}") for f in formats}
    formats = check_formats(args.format.split(",")) if args.format else list(FORMATS)
    return default_outputs(out, scope, formats, tz=_tz(args))


def cmd_report(args: argparse.Namespace) -> int:
    from inspector.core.progress import ProgressState
    from inspector.reports.export import export_report
    from inspector.reports.sections import random_weights_notice

    with open_store_arg(args.db) as store:
        if args.list_runs:
            return _list_runs(store, _tz(args))
        scope = build_scope(args, store)
        outputs = _outputs(args, scope)
        result = export_report(
            store,
            scope,
            outputs,
            title=args.title,
            paper=args.paper,
            max_parts=args.max_parts,
            tz=_tz(args),
            progress=ProgressState(_PhaseBars(args.quiet)),
        )
    d = result.data
    eff, model = d.effective_counts, d.model_counts
    print(
        f"{d.inspections:,} inspections ({scope.describe(_tz(args))}): after review {eff.passed:,} pass, "
        f"{eff.failed:,} fail, {eff.uncertain:,} uncertain (model: {model.passed:,} / {model.failed:,} / "
        f"{model.uncertain:,}); operators changed {d.overrides.changed_parts:,} verdicts."
    )
    for fmt, path in result.files.items():
        extra = (
            f" ({result.pdf_pages} pages)" if fmt == "pdf" else f" ({result.csv_rows:,} rows)" if fmt == "csv" else ""
        )
        print(f"  {fmt.upper():4} {path}{extra}")
    if not d.inspections:
        print("Note: no inspection matches this scope; the report says so.", file=sys.stderr)
    if notice := random_weights_notice(d):
        print(f"WARNING: {notice}", file=sys.stderr)
    return 0


def cmd_export_dataset(args: argparse.Namespace) -> int:
    from inspector.core.progress import ProgressState
    from inspector.reports.dataset_export import DatasetOptions, export_dataset

    options = DatasetOptions(
        include_unreviewed=args.include_unreviewed, uncertain=args.uncertain, train_good_fraction=args.train_fraction,
        category=args.category, anomaly_maps=args.maps, captioner_labels=not args.no_captioner_labels,
        overlays=args.overlays,
    )  # fmt: skip
    with open_store_arg(args.db) as store:
        scope = build_scope(args, store)
        result = export_dataset(store, scope, args.out, options, progress=ProgressState(_PhaseBars(args.quiet)))
    print(
        f"Exported {result.exported:,} parts to {result.root} ({result.maps:,} anomaly maps"
        f"{f', {result.overlays:,} overlays' if result.overlays else ''}); "
        f"manifest: {result.manifest}"
    )
    for key, n in sorted(result.counts.items()):
        print(f"  {key:40} {n:6,}")
    for reason, n in sorted(result.excluded.items()):
        print(f"  left out: {reason}: {n:,}")
    if result.random_weights:
        print(
            f"WARNING: {result.random_weights:,} exported parts were scored with RANDOM WEIGHTS; "
            "their anomaly maps were not exported.",
            file=sys.stderr,
        )
    if not result.exported:
        print(
            "Note: nothing was exported (see 'left out'; --include-unreviewed adds parts nobody reviewed).",
            file=sys.stderr,
        )
    return 0
