"""Inspection reports (PDF, HTML, CSV) and dataset export (MVTec AD layout).

Typical use, from a worker thread with a :class:`~inspector.core.progress.ProgressState`::

    from inspector.reports import ReportScope, default_outputs, export_report, export_dataset

    scope = ReportScope(since=..., until=..., lot="L-17")       # or run_id=, recipe_name=, recipe_version=
    result = export_report(store, scope, default_outputs(folder, scope, ("pdf", "html", "csv")),
                           paper="a4", progress=progress)       # result.files, .pdf_pages, .csv_rows, .data
    export_dataset(store, scope, "out/lot-17", DatasetOptions(uncertain="aside"), progress=progress)

The lower-level pieces: :func:`gather_report` (the figures, once) then :func:`write_pdf`,
:func:`write_html` / :func:`render_html`, :func:`write_csv`. The PDF needs a ``QGuiApplication``
(:func:`ensure_gui_application` makes an offscreen one on the main thread when none exists);
nothing else here uses Qt. Names are imported on first use, so ``import inspector.reports`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

DEFAULT_MAX_PARTS = 500  # flagged or reviewed parts listed with images in a PDF/HTML report

_EXPORTS = {
    "ReportScope": "scope",
    "ReportError": "scope",
    "parse_when": "scope",
    "ReportData": "model",
    "ListedPart": "model",
    "gather_report": "data",
    "render_html": "html",
    "write_html": "html",
    "PdfResult": "pdf",
    "write_pdf": "pdf",
    "ensure_gui_application": "pdf",
    "CSV_COLUMNS": "csv_export",
    "CsvResult": "csv_export",
    "write_csv": "csv_export",
    "FORMATS": "export",
    "ReportResult": "export",
    "default_outputs": "export",
    "export_report": "export",
    "DatasetOptions": "dataset_export",
    "DatasetExportResult": "dataset_export",
    "export_dataset": "dataset_export",
}

__all__ = ["DEFAULT_MAX_PARTS", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"inspector.reports.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
