"""The report as a printable PDF (A4 or Letter): a header and "Page n of m" on every page.

Qt draws it (``QPdfWriter``; each section is a small ``QTextDocument``) without a window: on a
computer without a display an offscreen ``QGuiApplication`` is created when none exists. Sections are
placed by a simple pager that never splits a part's entry across pages; a section taller than a page
(a very long runs table) flows over pages on whole lines. Safe in a worker thread once a
``QGuiApplication`` exists (the window has one; the command line creates one on its main thread).

Qt is imported inside the functions, so importing this module stays cheap and Qt-free.
"""

from __future__ import annotations

import html
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.core.progress import ProgressState
from inspector.reports import sections as sec
from inspector.reports import trust as tr
from inspector.reports.files import atomic_output
from inspector.reports.learning import learning_blocks
from inspector.reports.model import ListedPart, ReportData
from inspector.reports.scope import ReportError, format_time

PAPERS = ("a4", "letter")
PHASE_LAYOUT = "Laying out PDF"
PHASE_PDF = "Writing PDF"
DPI = 300
PART_COLUMNS = (17.5, 17.5, 65.0)  # % of the width: part picture, heatmap, details
MARGIN_MM = (14.0, 12.0, 14.0, 11.0)  # left, top, right, bottom
FONT_FAMILIES = ["DejaVu Sans", "Segoe UI", "Helvetica Neue", "Arial", "Liberation Sans"]
COLORS = {"pass": "#2e7d32", "fail": "#c62828", "uncertain": "#b26a00"}
BANNER = "#b71c1c"
MUTED = "#666666"

_FIELD_STYLE = {"Warning": f"; color:{BANNER}; font-weight:bold", "Inspection": "; white-space:nowrap"}
_app: Any = None  # the QGuiApplication this module created, kept alive


@dataclass(frozen=True)
class PdfResult:
    path: Path
    pages: int


def ensure_gui_application() -> None:
    """Make sure a ``QGuiApplication`` exists (Qt needs one to lay out text and fonts).

    Creates an offscreen one when there is none: only from the main thread, and the offscreen
    platform is chosen only when there is no display and ``QT_QPA_PLATFORM`` is not set.

    Raises:
        ReportError: No application exists and this is not the main thread, or a non-GUI
            ``QCoreApplication`` exists.
    """
    global _app
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication

    app = QCoreApplication.instance()
    if app is not None:
        if not isinstance(app, QGuiApplication):
            raise ReportError("PDF reports need a QGuiApplication, but this program created a QCoreApplication.")
        return
    if threading.current_thread() is not threading.main_thread():
        raise ReportError(
            "PDF reports need a QGuiApplication: create it on the main thread before starting the report thread."
        )
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # A QApplication (a QGuiApplication that also allows widgets): a process that later opens a window,
    # or a test session that goes on to widget tests, would otherwise be stuck with a widget-less app.
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:  # pragma: no cover - QtWidgets ships with PySide6-Essentials
        _app = QGuiApplication(["inspector-report"])
    else:
        _app = QApplication(["inspector-report"])


def report_font(size: float):
    """The report's sans-serif font, without ligatures: ids and paths copied from the PDF stay exact."""
    from PySide6.QtGui import QFont

    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSizeF(size)
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _css_px(device_px: float) -> int:
    """QTextDocument sizes images in CSS pixels (1/96 inch); the PDF is laid out at DPI."""
    return max(1, round(device_px * 96 / DPI))


def _table(table: sec.Table, *, size: float = 8.0, header_bg: str = "#eeeeee", pad: int = 4) -> str:
    cell = f"style='font-size:{size}pt'"
    head = "".join(
        f"<th align='{'right' if n else 'left'}' bgcolor='{header_bg}' {cell}>{_e(h)}</th>"
        for h, n in zip(table.headers, table.numeric, strict=True)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td align='{'right' if n else 'left'}' {cell}>{_e(c)}</td>"
            for c, n in zip(row, table.numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table cellspacing='0' cellpadding='{pad}'><tr>{head}</tr>{rows}</table>"


def _badge(verdict) -> str:
    return (
        f"<span style='background-color:{COLORS[verdict.value]}; color:#ffffff; font-weight:bold'>"
        f"&nbsp;{_e(sec.VERDICT_WORD[verdict])}&nbsp;</span>"
    )


def _h2(text: str) -> str:
    return f"<p style='font-size:13pt; font-weight:bold; margin-top:6px; margin-bottom:4px'>{_e(text)}</p>"


class _Layout:
    """Builds the sections as QTextDocuments and places them on pages."""

    def __init__(self, writer: Any, width: float, body_h: float) -> None:

        self.writer, self.width, self.body_h = writer, width, body_h
        self.font = report_font(8.5)
        self.blocks: list[tuple[Any, bool]] = []  # (document, starts a new page)

    def add(
        self,
        markup: str,
        images: dict[str, bytes] | None = None,
        *,
        new_page: bool = False,
        columns: tuple[float, ...] | None = None,
    ) -> None:
        """A section; ``columns``: percentage widths for its first table (Qt's own sizing varies)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QImage, QTextDocument, QTextLength, QTextTable

        doc = QTextDocument()
        doc.documentLayout().setPaintDevice(self.writer)
        doc.setDefaultFont(self.font)
        doc.setDocumentMargin(0)
        for name, data in (images or {}).items():
            image = QImage.fromData(data)
            if not image.isNull():
                doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        doc.setHtml(markup)
        if columns:
            table = next((f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable)), None)
            if table is not None:
                fmt = table.format()
                fmt.setColumnWidthConstraints([QTextLength(QTextLength.Type.PercentageLength, c) for c in columns])
                table.setFormat(fmt)
        doc.setTextWidth(self.width)
        self.blocks.append((doc, new_page))

    def plan(self) -> list[tuple[int, float, Any, float, float]]:
        """Placements ``(page, y, document, clip_top, clip_height)``; pages count from 0."""
        from PySide6.QtCore import QSizeF

        gap = self.body_h * 0.012
        placed: list[tuple[int, float, Any, float, float]] = []
        page, y = 0, 0.0
        for doc, new_page in self.blocks:
            h = doc.size().height()
            if (new_page and y > 0) or (y > 0 and y + h > self.body_h):
                page, y = page + 1, 0.0
            if h <= self.body_h - y:
                placed.append((page, y, doc, 0.0, h))
                y += h + gap
                continue
            # taller than a page: let Qt paginate it on whole lines, one page per slice
            doc.setPageSize(QSizeF(self.width, self.body_h))
            for k in range(doc.pageCount()):
                if k:
                    page += 1
                placed.append((page, 0.0, doc, k * self.body_h, self.body_h))
            y = self.body_h  # the next block starts on a new page
        return placed


def _header_markup(data: ReportData, width: float) -> str:
    notice = sec.random_weights_notice(data)
    banner = (
        (
            f"<table width='100%' cellpadding='6' bgcolor='{BANNER}'><tr><td style='color:#ffffff; "
            f"font-weight:bold; font-size:9.5pt'>{_e(notice)}</td></tr></table>"
        )
        if notice
        else ""
    )
    items = "".join(
        f"<tr><td style='color:{MUTED}' width='{_css_px(width * 0.16)}'>{_e(k)}</td><td>{_e(v)}</td></tr>"
        for k, v in sec.header_items(data)
    )
    return (
        f"<p style='font-size:20pt; font-weight:bold; margin:0'>{_e(data.title)}</p>"
        f"<p style='font-size:10pt; color:{MUTED}; margin-top:2px'>{_e(sec.subtitle(data))}</p>"
        f"{banner}<table cellpadding='1' cellspacing='0' width='100%'>{items}</table>"
    )


def _summary_markup(data: ReportData, width: float) -> str:
    figures = sec.key_figures(data)
    cells = "".join(
        f"<td width='{100 // len(figures)}%' style='border: 1px solid #cccccc'>"
        f"<span style='color:{MUTED}; font-size:7pt'>"
        f"{_e(label.upper())}</span><br><span style='font-size:16pt; font-weight:bold'>{_e(value)}</span><br>"
        f"<span style='color:{MUTED}; font-size:7pt'>{_e(detail)}</span></td>"
        for label, value, detail in figures
    )
    return (
        _h2("Summary")
        + f"<table width='100%' cellspacing='4' cellpadding='5'><tr>{cells}</tr></table><br>"
        + _table(sec.verdict_table(data))
    )


def _overrides_markup(data: ReportData) -> str:
    items = "".join(
        f"<tr><td style='color:{MUTED}'>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in sec.override_items(data)
    )
    changes = sec.changes_table(data)
    return (
        _h2("Operator decisions")
        + f"<table cellpadding='1'>{items}</table>"
        + ("<br>" + _table(changes) if changes else "")
    )


def _chart_markup(title: str, name: str, png: bytes | None, width: float, note: str = "") -> tuple[str, dict]:
    from PySide6.QtGui import QImage

    if png is None:
        return _h2(title) + f"<p style='color:{MUTED}'>{_e(note)}</p>", {}
    image = QImage.fromData(png)
    w = _css_px(width)
    h = round(w * image.height() / max(1, image.width()))
    return _h2(title) + f"<img src='{name}' width='{w}' height='{h}'>", {name: png}


def _part_markup(part: ListedPart, data: ReportData, width: float) -> tuple[str, dict[str, bytes]]:
    from PySide6.QtGui import QImage

    r = part.record
    pic_w = _css_px(width * (PART_COLUMNS[0] - 1.5) / 100)
    images: dict[str, bytes] = {}
    cells = []
    for key, blob, caption in (("thumb", part.thumbnail, "part"), ("heat", part.overlay, "heatmap")):
        if blob is not None:
            image = QImage.fromData(blob)
            w, h = pic_w, round(pic_w * image.height() / max(1, image.width()))
            if h > pic_w * 1.1:  # tall parts: keep the entry short, narrow the picture instead
                w, h = round(w * pic_w * 1.1 / h), round(pic_w * 1.1)
            images[key] = blob
            cells.append(
                f"<td valign='top'><img src='{key}' width='{w}' height='{h}'><br>"
                f"<span style='font-size:6.5pt; color:{MUTED}'>{caption}</span></td>"
            )
        else:
            cells.append(
                f"<td valign='top' style='color:{MUTED}; font-size:7pt'>{_e(part.image_note or 'no ' + caption)}</td>"
            )
    head = _badge(r.model_verdict)
    if r.effective_verdict != r.model_verdict:
        head += " → " + _badge(r.effective_verdict)
    label_w = _css_px(width * 0.085)
    fields = "".join(
        f"<tr><td width='{label_w}' style='color:{MUTED}; font-size:7.5pt'>{_e(k)}</td>"
        f"<td style='font-size:7.5pt{_FIELD_STYLE.get(k, '')}'>{_e(v)}</td></tr>"
        for k, v in sec.part_fields(part, data)
    )
    history = sec.history_table(part, data)
    trail = (
        (
            f"<p style='font-size:7.5pt; font-weight:bold; margin-top:3px; margin-bottom:0'>Override history</p>"
            f"{_table(history, size=7.0, pad=2)}"
        )
        if history
        else ""
    )
    info = (
        f"<td valign='top'><b>{head} {_e(sec.part_title(part, data))}</b>"
        f"<table cellpadding='0' cellspacing='1'>{fields}</table>{trail}</td>"
    )
    frame = f"<hr style='height:2px; background-color:{BANNER}'>" if r.random_weights else "<hr>"
    return (
        f"<table width='100%' cellspacing='0' cellpadding='3'><tr>{''.join(cells)}{info}</tr></table>{frame}",
        images,
    )


def write_pdf(
    data: ReportData,
    path: str | os.PathLike[str],
    *,
    paper: str = "a4",
    progress: ProgressState | None = None,
) -> PdfResult:
    """Write the report as a PDF at ``path`` (replaced only when complete).

    Raises:
        ReportError: unknown paper size, no QGuiApplication possible, or the file cannot be written.
        Cancelled: ``progress.cancel()`` was called (no file is left behind).
    """
    paper = paper.lower()
    if paper not in PAPERS:
        raise ReportError(f"Unknown paper size '{paper}': choose {' or '.join(PAPERS)}.")
    progress = progress or ProgressState()
    ensure_gui_application()
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter

    with atomic_output(path) as tmp:
        writer = QPdfWriter(str(tmp))
        writer.setResolution(DPI)
        size = QPageSize.PageSizeId.A4 if paper == "a4" else QPageSize.PageSizeId.Letter
        writer.setPageSize(QPageSize(size))
        writer.setPageMargins(QMarginsF(*MARGIN_MM), QPageLayout.Unit.Millimeter)
        writer.setTitle(data.title)
        writer.setCreator(f"Inspector {data.app_version}")
        area = writer.pageLayout().paintRectPixels(DPI)
        width, height = float(area.width()), float(area.height())
        header_h = DPI * (12 if data.has_random_weights else 7.5) / 25.4
        footer_h = DPI * 6 / 25.4
        layout = _Layout(writer, width, height - header_h - footer_h)
        _build(layout, data, width, progress)
        placed = layout.plan()
        pages = (placed[-1][0] + 1) if placed else 1
        painter = QPainter()
        if not painter.begin(writer):
            raise ReportError(f"Cannot write the PDF {path}: Qt could not open it for drawing.")
        try:
            _draw(painter, writer, data, placed, pages, width, height, header_h, footer_h, progress)
        finally:
            painter.end()
            del writer
    return PdfResult(Path(path), pages)


def _trust_markup(data: ReportData) -> list[str]:
    """The golden-part checks and recipe signatures (inspector.reports.trust), one block each."""
    if data.trust is None:
        return []
    golden = _h2("Golden-part checks") + f"<p style='color:{MUTED}'>{_e(tr.golden_note(data.trust))}</p>"
    if (table := tr.golden_table(data.trust, data, limit=25)) is not None:  # one page
        golden += _table(table, size=7.0)
    signed = _h2("Recipe signatures")
    if (notice := tr.unsigned_notice(data.trust)) is not None:
        signed += f"<p style='color:#b00020'><b>{_e(notice)}</b></p>"
    if (table := tr.signature_table(data.trust)) is not None:
        signed += _table(table)
    return [golden, signed]


def _build(layout: _Layout, data: ReportData, width: float, progress: ProgressState) -> None:
    total = len(data.parts)
    progress.report(0, total, PHASE_LAYOUT)
    layout.add(_header_markup(data, width))
    layout.add(_summary_markup(data, width))
    layout.add(_overrides_markup(data))
    if data.runs:
        layout.add(_h2("Runs") + _table(sec.runs_table(data)))
    if (wrong := sec.wrong_part_note(data)) is not None:
        layout.add(f"<p style='color:#7b1fa2; font-weight:700'>{_e(wrong)}</p>")
    if (timelines := sec.timeline_table(data)) is not None:
        layout.add(_h2("Video timelines") + _table(timelines))
    for markup in _trust_markup(data):
        layout.add(markup)
    charts = data.charts
    layout.add(*_chart_markup("Score distribution", "hist", charts.histogram if charts else None, width))
    layout.add(*_chart_markup("Score trend", "trend", charts.trend if charts else None, width))
    if data.defects:
        markup, images = _chart_markup("Defect types", "defects", charts.defects if charts else None, width)
        layout.add(markup + _table(sec.defects_table(data)), images)
    else:
        layout.add(_h2("Defect types") + f"<p style='color:{MUTED}'>No part failed after review.</p>")
    _learning(layout, data, width)
    layout.add(
        _h2("Flagged and reviewed parts") + f"<p style='color:{MUTED}'>{_e(sec.parts_note(data))}</p>",
        new_page=bool(data.parts),
    )
    for i, part in enumerate(data.parts, 1):
        layout.add(*_part_markup(part, data, width), columns=PART_COLUMNS)
        if i % 20 == 0 or i == total:
            progress.check()
            progress.report(i, total, PHASE_LAYOUT)


def _learning(layout: _Layout, data: ReportData, width: float) -> None:
    """The "Station learning" blocks (reviewed-parts rates and ROC, drift), see inspector.reports.learning."""
    from PySide6.QtGui import QImage

    for i, block in enumerate(learning_blocks(data.learning)):
        head = _h2("Station learning") if i == 0 else ""
        text = "".join(f"<p style='margin:1px'>{_e(line)}</p>" for line in block.lines)
        markup = head + f"<p style='font-weight:bold; margin-top:4px'>{_e(block.title)}</p>{text}"
        images = {}
        for name, png, _alt in block.images:
            image = QImage.fromData(png)
            w = _css_px(width * (0.5 if image.width() < 1000 else 1.0))
            h = round(w * image.height() / max(1, image.width()))
            markup += f"<img src='{name}' width='{w}' height='{h}'>"
            images[name] = png
        layout.add(markup, images)


def _draw(
    painter,
    writer,
    data: ReportData,
    placed,
    pages: int,
    width: float,
    height: float,
    header_h: float,
    footer_h: float,
    progress: ProgressState,
) -> None:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPen

    def font(size: float, bold: bool = False) -> QFont:
        f = report_font(size)
        f.setBold(bold)
        return f

    left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
    start, end = data.period
    period = f"{format_time(start, data.tz)} to {format_time(end, data.tz)}" if start else ""
    station = ", ".join(data.stations)
    line_h = DPI * 5 / 25.4
    by_page: dict[int, list] = {}
    for item in placed:
        by_page.setdefault(item[0], []).append(item)
    progress.report(0, pages, PHASE_PDF)
    for page in range(pages):
        progress.check()
        if page:
            writer.newPage()
        painter.setPen(QColor("#222222"))
        painter.setFont(font(8, bold=True))
        painter.drawText(QRectF(0, 0, width * 0.55, line_h), left, data.title)
        painter.setFont(font(7.5))
        painter.setPen(QColor(MUTED))
        painter.drawText(
            QRectF(width * 0.45, 0, width * 0.55, line_h), right, " · ".join(x for x in (station, period) if x)
        )
        y = line_h
        if data.has_random_weights:
            band = QRectF(0, y + DPI * 0.5 / 25.4, width, DPI * 4.5 / 25.4)
            painter.fillRect(band, QColor(BANNER))
            painter.setPen(QColor("#ffffff"))
            painter.setFont(font(7.5, bold=True))
            painter.drawText(
                band.adjusted(DPI * 2 / 25.4, 0, 0, 0),
                left,
                f"RANDOM WEIGHTS in {data.random_weights:,} of {data.inspections:,} inspections: "
                "their scores and verdicts are meaningless",
            )
            y = band.bottom()
        painter.setPen(QPen(QColor("#999999"), DPI * 0.2 / 25.4))
        painter.drawLine(0, round(y + DPI * 1 / 25.4), round(width), round(y + DPI * 1 / 25.4))
        for _page, top, doc, clip_top, clip_h in by_page.get(page, []):
            painter.save()
            painter.translate(0, header_h + top - clip_top)
            doc.drawContents(painter, QRectF(0, clip_top, width, clip_h))
            painter.restore()
        painter.setPen(QPen(QColor("#999999"), DPI * 0.2 / 25.4))
        fy = height - footer_h + DPI * 1.5 / 25.4
        painter.drawLine(0, round(fy), round(width), round(fy))
        painter.setFont(font(7.5))
        painter.setPen(QColor(MUTED))
        foot = QRectF(0, fy, width, height - fy)
        painter.drawText(
            foot, left, f"Generated {format_time(data.generated_at, data.tz)} by Inspector {data.app_version}"
        )
        painter.setPen(QColor("#222222"))
        painter.drawText(foot, right, f"Page {page + 1} of {pages}")
        progress.report(page + 1, pages, PHASE_PDF)
