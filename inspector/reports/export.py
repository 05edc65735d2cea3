"""One call that makes a report in any of its formats: what the command line and the window run.

Example (from a worker thread; the window keeps ``progress`` to show a bar and to cancel)::

    progress = ProgressState(lambda done, total, phase: ...)
    outputs = default_outputs("/reports", scope, ("pdf", "html", "csv"))
    result = export_report(store, scope, outputs, paper="letter", progress=progress)
    result.files["pdf"], result.pdf_pages, result.csv_rows, result.data.effective_counts

The figures are gathered once and the CSV rows are written in that same pass, so the PDF, the HTML
and the CSV agree with each other to the last part.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from inspector.core.progress import ProgressState
from inspector.reports import DEFAULT_MAX_PARTS
from inspector.reports.data import gather_report
from inspector.reports.model import ReportData
from inspector.reports.scope import ReportError, ReportScope, to_zone

FORMATS = ("pdf", "html", "csv")


@dataclass(frozen=True)
class ReportResult:
    data: ReportData
    files: dict[str, Path]  # format -> file written
    pdf_pages: int | None
    csv_rows: int | None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "x"


def report_basename(scope: ReportScope, when: datetime | None = None, tz: tzinfo | None = None) -> str:
    """A file name (without suffix) that says what the report covers and when it was made."""
    parts = ["inspection-report"]
    if scope.lot:
        parts.append(f"lot-{_slug(scope.lot)}")
    if scope.recipe_name:
        parts.append(_slug(scope.recipe_name) + (f"-v{scope.recipe_version}" if scope.recipe_version else ""))
    if scope.run_id:
        parts.append(f"run-{_slug(scope.run_id)[:8]}")
    if scope.since:
        parts.append(to_zone(scope.since, tz).strftime("%Y%m%d-%H%M"))
    stamp = to_zone(when or datetime.now(UTC), tz).strftime("%Y%m%d-%H%M%S")
    return "_".join([*parts, f"made-{stamp}"])


def default_outputs(
    folder: str | os.PathLike[str], scope: ReportScope, formats: Iterable[str] = FORMATS, **kwargs
) -> dict[str, Path]:
    """``{format: <folder>/<report_basename>.<format>}`` for the formats asked for."""
    wanted = check_formats(formats)
    base = report_basename(scope, **kwargs)
    return {f: Path(folder) / f"{base}.{f}" for f in wanted}


def check_formats(formats: Iterable[str]) -> list[str]:
    wanted = []
    for f in formats:
        f = f.strip().lower().lstrip(".")
        if f not in FORMATS:
            raise ReportError(f"Unknown report format '{f}': choose from {', '.join(FORMATS)}.")
        if f not in wanted:
            wanted.append(f)
    if not wanted:
        raise ReportError(f"Choose at least one report format ({', '.join(FORMATS)}).")
    return wanted


def export_report(
    store,
    scope: ReportScope | None,
    outputs: Mapping[str, str | os.PathLike[str]],
    *,
    title: str | None = None,
    paper: str = "a4",
    max_parts: int = DEFAULT_MAX_PARTS,
    tz: tzinfo | None = None,
    progress: ProgressState | None = None,
) -> ReportResult:
    """Gather the report once and write each requested format (``{"pdf": path, "csv": path, ...}``).

    Each file is written completely or not at all. Progress phases: reading inspections, preparing
    images, then per format (see the ``PHASE_*`` names of each module).

    Raises:
        ReportError: bad scope, format, paper or output path (plain message).
        Cancelled: ``progress.cancel()`` was called; files already finished stay, none is half-written.
    """
    check_formats(outputs)
    paths = {f.lower().lstrip("."): Path(p) for f, p in outputs.items()}
    scope = scope or ReportScope()
    progress = progress or ProgressState()
    visual = "pdf" in paths or "html" in paths
    if "pdf" in paths:
        from inspector.reports.pdf import PAPERS, ensure_gui_application

        if paper.lower() not in PAPERS:
            raise ReportError(f"Unknown paper size '{paper}': choose {' or '.join(PAPERS)}.")
        ensure_gui_application()  # fail before the long part, and on the caller's thread
    gather = functools.partial(
        gather_report,
        store,
        scope,
        title=title,
        max_parts=max_parts if visual else 0,
        images=visual,
        charts=visual,
        tz=tz,
        progress=progress,
    )
    csv_rows = None
    if "csv" in paths:
        from inspector.reports.csv_export import csv_output

        with csv_output(paths["csv"]) as rows:
            data = gather(on_record=rows)
        csv_rows = rows.rows
    else:
        data = gather()
    pages = None
    if "html" in paths:
        from inspector.reports.html import write_html

        write_html(data, paths["html"], progress)
    if "pdf" in paths:
        from inspector.reports.pdf import write_pdf

        pages = write_pdf(data, paths["pdf"], paper=paper, progress=progress).pages
    return ReportResult(data, dict(paths), pages, csv_rows)
