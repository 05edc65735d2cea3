"""One CSV row per inspection, with the model's verdict and the verdict after review side by side.

Format: UTF-8, comma-separated, a header row, RFC 4180 quoting, times in ISO 8601 UTC, scores at
full precision (they read back as the exact stored values), booleans as ``true``/``false``.

Random weights are stated in the ``random_weights`` column of every row (not in a comment line: a
comment before the header breaks spreadsheet and pandas imports). A report that includes the CSV
also says it in its banner.

Text a person typed (notes, labels, captions, file names) that starts with ``= + - @`` is prefixed
with ``'`` so that a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from inspector.core.progress import ProgressState
from inspector.reports.data import gather_report
from inspector.reports.files import atomic_output
from inspector.reports.model import ReportData
from inspector.reports.scope import ReportScope
from inspector.store import InspectionRecord, InspectionStore, OverrideRecord, RunRecord

CSV_COLUMNS = (
    "inspection_id",
    "inspected_at",
    "station",
    "run_id",
    "run_label",
    "lot",
    "source",
    "file_path",
    "content_hash",
    "recipe",
    "recipe_version",
    "detector",
    "model_id",
    "model_fingerprint",
    "random_weights",
    "score",
    "threshold",
    "model_verdict",
    "effective_verdict",
    "verdict_changed",
    "defect_label",  # the operator's label (after review)
    "captioner_defect_type",
    "captioner_confidence",
    "caption",  # the effective caption: an operator's correction, else the captioner's
    "caption_status",
    "machine_caption",  # the captioner's own caption (kept when an operator corrected it)
    "caption_corrected_by",
    "override_count",
    "last_reviewed_by",
    "last_reviewed_at",
    "last_note",
    "latency_ms",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvResult:
    path: Path
    rows: int


def safe_text(value: str | None) -> str:
    """Text for a spreadsheet cell: formulas are defused with a leading apostrophe."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _time(value) -> str:
    return value.isoformat() if value is not None else ""


def _num(value: float | None) -> str:
    return repr(float(value)) if value is not None else ""


def csv_row(record: InspectionRecord, run: RunRecord | None, trail: tuple[OverrideRecord, ...]) -> list[str]:
    r = record
    return [
        r.id,
        _time(r.inspected_at),
        safe_text(r.station),
        r.run_id or "",
        safe_text((run.label or run.source) if run else None),
        safe_text(run.lot if run else None),
        safe_text(r.source),
        safe_text(r.file_path),
        r.content_hash,
        safe_text(r.recipe_name),
        str(r.recipe_version),
        safe_text(r.detector),
        safe_text(r.model_id),
        r.model_fingerprint,
        "true" if r.random_weights else "false",
        _num(r.score),
        _num(r.threshold),
        r.model_verdict.value,
        r.effective_verdict.value,
        "true" if r.overridden else "false",
        safe_text(r.effective_defect_label),
        safe_text(r.defect_type),
        _num(r.defect_confidence),
        safe_text(r.effective_caption),
        r.caption_status.value if r.caption_status else "",
        safe_text(r.caption),
        safe_text(r.caption_corrected_by),
        str(r.override_count),
        safe_text(r.last_reviewed_by),
        _time(r.last_reviewed_at),
        safe_text(trail[-1].note if trail else None),
        _num(r.latency_ms),
    ]


class CsvRowWriter:
    """Writes rows as :func:`~inspector.reports.data.gather_report` reads them (its ``on_record``)."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle, lineterminator="\r\n")
        self._writer.writerow(CSV_COLUMNS)
        self.rows = 0

    def __call__(self, record: InspectionRecord, run: RunRecord | None, trail: tuple[OverrideRecord, ...]) -> None:
        self._writer.writerow(csv_row(record, run, trail))
        self.rows += 1


@contextmanager
def csv_output(path: str | os.PathLike[str]) -> Iterator[CsvRowWriter]:
    """A :class:`CsvRowWriter` on ``path``; the file appears only if the block completes."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        yield CsvRowWriter(handle)


def write_csv(
    store: InspectionStore,
    scope: ReportScope | None,
    path: str | os.PathLike[str],
    *,
    progress: ProgressState | None = None,
) -> tuple[CsvResult, ReportData]:
    """Write the inspections in ``scope`` to ``path``; also returns the figures counted in the same pass."""
    with csv_output(path) as rows:
        data = gather_report(store, scope, images=False, charts=False, max_parts=0, progress=progress, on_record=rows)
    return CsvResult(Path(path), rows.rows), data
