"""The report as one self-contained HTML file: inline CSS, images as ``data:`` URIs, no script.

It opens in any browser without a network (it makes no request at all), can be mailed as one file,
and prints on A4 or Letter (parts are not split across pages).
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from inspector.core.progress import ProgressState
from inspector.reports import sections as sec
from inspector.reports import trust as tr
from inspector.reports.files import atomic_output
from inspector.reports.learning import learning_blocks
from inspector.reports.model import ListedPart, ReportData

PHASE_HTML = "Writing HTML"

CSS = """
:root { --pass: #2e7d32; --fail: #c62828; --unc: #b26a00; --ink: #212121; --muted: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, Helvetica, sans-serif; color: var(--ink); margin: 0;
       font-size: 14px; line-height: 1.4; background: #f4f5f7; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
.subtitle { color: var(--muted); margin: 0 0 16px; }
.banner { background: #b71c1c; color: #fff; font-weight: bold; padding: 10px 14px; margin: 12px 0;
          border-radius: 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.figure { flex: 1 1 160px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.figure .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.figure .value { font-size: 26px; font-weight: bold; }
.figure .detail { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
img.chart { width: 100%; height: auto; display: block; margin: 6px 0 14px; }
.note { color: var(--muted); font-size: 13px; }
.part { display: flex; gap: 12px; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
        margin: 10px 0; break-inside: avoid; page-break-inside: avoid; }
.part.random { border: 2px solid #b71c1c; }
.part .pics { display: flex; gap: 6px; flex: 0 0 auto; }
.part figure { margin: 0; width: 150px; text-align: center; }
.part figure img { max-width: 150px; max-height: 165px; width: auto; height: auto; display: block;
                   margin: 0 auto; border: 1px solid var(--line); }
.part figcaption { font-size: 11px; color: var(--muted); }
.part .missing { width: 150px; height: 112px; border: 1px dashed var(--line); color: var(--muted);
                 display: flex; align-items: center; justify-content: center; font-size: 12px; }
.part .info { flex: 1 1 auto; min-width: 0; }
.part h3 { font-size: 15px; margin: 0 0 4px; }
.part dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px; margin: 0 0 6px;
           font-size: 13px; }
.part dt { color: var(--muted); }
.part dd { margin: 0; overflow-wrap: anywhere; }
.part dd.warn { color: #b71c1c; font-weight: bold; }
.part table { font-size: 12px; margin: 4px 0 0; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-weight: bold; font-size: 12px; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.uncertain { background: var(--unc); }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .badge, th, .part.random { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _table(table: sec.Table) -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if n else f"<th>{_e(h)}</th>"
        for h, n in zip(table.headers, table.numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if n else f"<td>{_e(c)}</td>"
            for c, n in zip(row, table.numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _dl(items: list[tuple[str, str]], cls: str = "meta") -> str:
    def dd(key: str) -> str:
        return '<dd class="warn">' if key == "Warning" else "<dd>"

    return f'<dl class="{cls}">' + "".join(f"<dt>{_e(k)}</dt>{dd(k)}{_e(v)}</dd>" for k, v in items) + "</dl>"


def _picture(data: bytes | None, caption: str, alt: str, missing: str) -> str:
    if data is None:
        return f'<figure><div class="missing">{_e(missing)}</div><figcaption>{_e(caption)}</figcaption></figure>'
    return (
        f'<figure><img src="{data_uri(data, "image/jpeg")}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _badge(verdict) -> str:
    return f'<span class="badge {_e(verdict.value)}">{_e(sec.VERDICT_WORD[verdict])}</span>'


def _part(part: ListedPart, data: ReportData) -> str:
    r = part.record
    badges = _badge(r.model_verdict)
    if r.effective_verdict != r.model_verdict:
        badges += f" → {_badge(r.effective_verdict)}"
    pics = _picture(part.thumbnail, "part", "part thumbnail", part.image_note or "no image") + _picture(
        part.overlay, "heatmap (scaled per part)", "anomaly heatmap", part.image_note or "no heatmap"
    )
    history = sec.history_table(part, data)
    trail = f"<div><b>Override history</b>{_table(history)}</div>" if history else ""
    cls = "part random" if r.random_weights else "part"
    return (
        f'<section class="{cls}"><div class="pics">{pics}</div><div class="info">'
        f"<h3>{badges} {_e(sec.part_title(part, data))}</h3>{_dl(sec.part_fields(part, data), '')}{trail}"
        "</div></section>"
    )


def _trust_html(data: ReportData) -> list[str]:
    """The golden-part checks and recipe signatures (inspector.reports.trust)."""
    if data.trust is None:
        return []
    out = [f"<h2>Golden-part checks</h2><p class='note'>{_e(tr.golden_note(data.trust))}</p>"]
    if (table := tr.golden_table(data.trust, data)) is not None:
        out.append(_table(table))
    out.append("<h2>Recipe signatures</h2>")
    if (notice := tr.unsigned_notice(data.trust)) is not None:
        out.append(f'<div class="banner">{_e(notice)}</div>')
    if (table := tr.signature_table(data.trust)) is not None:
        out.append(_table(table))
    return out


def render_html(data: ReportData, progress: ProgressState | None = None) -> str:
    """The whole report as one HTML string (no external resource of any kind)."""
    progress = progress or ProgressState()
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(data.title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_e(data.title)}</h1><p class='subtitle'>{_e(sec.subtitle(data))}</p>",
    ]
    notice = sec.random_weights_notice(data)
    if notice:
        out.append(f'<div class="banner" role="alert">{_e(notice)}</div>')
    out.append(_dl(sec.header_items(data)))
    out.append('<h2>Summary</h2><div class="figures">')
    for label, value, detail in sec.key_figures(data):
        out.append(
            f'<div class="figure"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
            f'<div class="detail">{_e(detail)}</div></div>'
        )
    out.append("</div>")
    out.append(_table(sec.verdict_table(data)))
    out.append("<h2>Operator decisions</h2>" + _dl(sec.override_items(data)))
    changes = sec.changes_table(data)
    if changes:
        out.append(_table(changes))
    if data.runs:
        out.append("<h2>Runs</h2>" + _table(sec.runs_table(data)))
    if (wrong := sec.wrong_part_note(data)) is not None:
        out.append(f'<div class="banner" role="alert">{_e(wrong)}</div>')
    if (timelines := sec.timeline_table(data)) is not None:
        out.append("<h2>Video timelines</h2>" + _table(timelines))
    out += _trust_html(data)
    charts = data.charts
    out.append("<h2>Score distribution</h2>")
    if charts:
        out.append(
            f'<img class="chart" alt="score histogram with the threshold" '
            f'src="{data_uri(charts.histogram, "image/png")}">'
        )
    out.append("<h2>Score trend</h2>")
    if charts:
        out.append(
            f'<img class="chart" alt="score of each part in inspection order" '
            f'src="{data_uri(charts.trend, "image/png")}">'
        )
    out.append("<h2>Defect types</h2>")
    if data.defects:
        if charts and charts.defects:
            out.append(
                f'<img class="chart" alt="failed parts by defect type" src="{data_uri(charts.defects, "image/png")}">'
            )
        out.append(_table(sec.defects_table(data)))
    else:
        out.append("<p class='note'>No part failed after review.</p>")
    blocks = learning_blocks(data.learning)
    if blocks:
        out.append("<h2>Station learning</h2>")
    for block in blocks:
        out.append(f"<h3>{_e(block.title)}</h3>" + "".join(f"<p class='note'>{_e(line)}</p>" for line in block.lines))
        for _name, png, alt in block.images:
            out.append(f'<img class="chart" alt="{_e(alt)}" src="{data_uri(png, "image/png")}">')
    out.append(f"<h2>Flagged and reviewed parts</h2><p class='note'>{_e(sec.parts_note(data))}</p>")
    total = len(data.parts)
    for i, part in enumerate(data.parts, 1):
        if i % 50 == 0:
            progress.check()
            progress.report(i, total, PHASE_HTML)
        out.append(_part(part, data))
    progress.report(total, total, PHASE_HTML)
    if notice:
        out.append(f'<div class="banner">{_e(notice)}</div>')
    out.append(f"<footer>{_e(data.title)} - generated by Inspector {_e(data.app_version)}</footer>")
    out.append("</main></body></html>")
    return "\n".join(out)


def write_html(data: ReportData, path: str | os.PathLike[str], progress: ProgressState | None = None) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8), replacing it only when complete."""
    text = render_html(data, progress)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
