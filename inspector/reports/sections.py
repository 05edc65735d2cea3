"""The report's wording and tables, shared by the HTML and PDF writers (plain text, no markup).

Each function turns part of a :class:`~inspector.reports.model.ReportData` into labelled strings or a
:class:`Table`, so both formats say exactly the same thing; they differ only in markup and layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.reports.model import VERDICTS, ListedPart, ReportData
from inspector.reports.scope import format_time, to_zone
from inspector.store import OverrideKind, RunRecord, Verdict
from inspector.store.part_image import CHANGED

VERDICT_WORD = {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.UNCERTAIN: "UNCERTAIN"}


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-align these columns

    def __post_init__(self) -> None:
        assert all(len(r) == len(self.headers) for r in self.rows), "ragged table"


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "-"


def num(value: int) -> str:
    return f"{value:,}"


def score(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"


def random_weights_notice(data: ReportData) -> str | None:
    """The plain warning every format shows when any inspection used random weights."""
    if not data.has_random_weights:
        return None
    share = pct(data.random_weights, data.inspections)
    return (
        f"RANDOM WEIGHTS: {num(data.random_weights)} of {num(data.inspections)} inspections in this report "
        f"({share}) were scored by a model with random weights (a test or benchmark set-up). Their scores, "
        "verdicts and heatmaps are meaningless; do not use them as evidence."
    )


def subtitle(data: ReportData) -> str:
    return data.scope.describe(data.tz)[:1].upper() + data.scope.describe(data.tz)[1:]


def header_items(data: ReportData) -> list[tuple[str, str]]:
    """Label and value lines of the report's header."""
    start, end = data.period
    recipes = "; ".join(
        f"{u.name} v{u.version} (threshold {', '.join(score(t) for t in u.thresholds)}"
        + (f", uncertain {score(u.uncertain_band[0])} to {score(u.uncertain_band[1])}" if u.uncertain_band else "")
        + f"; {num(u.inspections)} parts)"
        for u in data.recipes
    )
    models = "; ".join(
        f"{m.detector} [{m.model_id}, weights {m.fingerprint}] ({num(m.inspections)} parts"
        + (f", {num(m.random_weights)} with RANDOM WEIGHTS" if m.random_weights else "")
        + ")"
        for m in data.models
    )
    run_ops = sorted({u.run.operator for u in data.runs if u.run and u.run.operator}, key=str.casefold)
    items = [
        ("Station", ", ".join(data.stations) or "-"),
        ("Period", f"{format_time(start, data.tz)} to {format_time(end, data.tz)}" if start else "-"),
        ("Scope", subtitle(data)),
        ("Recipe", recipes or "-"),
        ("Models", models or "-"),
        ("Operators", ", ".join(run_ops) or "-"),
        ("Reviewed by", ", ".join(data.overrides.operators) or "nobody"),
        ("Runs", _runs_line(data)),
        ("Generated", f"{format_time(data.generated_at, data.tz)} by Inspector {data.app_version}"),
        ("Database", data.database),
    ]
    return items


def _runs_line(data: ReportData) -> str:
    names = []
    for u in data.runs[:12]:
        if u.run is None:
            names.append(f"outside any run ({num(u.inspections)})")
        else:
            lot = f", lot {u.run.lot}" if u.run.lot else ""
            names.append(f"{u.run.label or u.run.source}{lot} ({num(u.inspections)})")
    more = f" and {len(data.runs) - 12} more" if len(data.runs) > 12 else ""
    return "; ".join(names) + more if names else "-"


def key_figures(data: ReportData) -> list[tuple[str, str, str]]:
    """``(label, value, detail)`` boxes at the top of the summary."""
    n, eff, o, t = data.inspections, data.effective_counts, data.overrides, data.throughput
    rate = f"{t.parts_per_hour:,.0f} / h" if t.parts_per_hour else "-"
    rate_detail = "parts per hour of inspecting" if t.parts_per_hour else "too few parts for a rate"
    latency = f"{t.median_latency_ms:,.0f} ms" if t.median_latency_ms is not None else "-"
    p95 = f"median; 95% within {t.p95_latency_ms:,.0f} ms" if t.p95_latency_ms is not None else "not recorded"
    return [
        ("Inspected", num(n), f"{num(data.skipped_files)} files skipped" if data.skipped_files else "no file skipped"),
        ("Failed", num(eff.failed), f"{pct(eff.failed, n)} after review (model: {pct(data.model_counts.failed, n)})"),
        ("Uncertain", num(eff.uncertain),
         f"{pct(eff.uncertain, n)} after review (model: {pct(data.model_counts.uncertain, n)})"),
        ("Verdicts changed", num(o.changed_parts), f"by {num(o.decisions)} operator decisions"),
        ("Throughput", rate, rate_detail),
        ("Model time per part", latency, p95),
    ]  # fmt: skip


def verdict_table(data: ReportData) -> Table:
    n = data.inspections
    rows = []
    for v in VERDICTS:
        m, e = data.model_counts.of(v), data.effective_counts.of(v)
        rows.append((VERDICT_WORD[v], num(m), pct(m, n), num(e), pct(e, n), f"{e - m:+,}" if e != m else "0"))
    rows.append(("Total", num(n), pct(n, n), num(n), pct(n, n), ""))
    return Table(("Verdict", "Model", "%", "After review", "%", "Change"), tuple(rows), (False,) + (True,) * 5)


def override_items(data: ReportData) -> list[tuple[str, str]]:
    o = data.overrides
    return [
        ("Parts reviewed", num(o.reviewed_parts)),
        ("Operator decisions", f"{num(o.decisions)} ({num(o.confirmations)} confirmed the verdict they found)"),
        ("Decisions undone", num(o.undos)),
        ("Verdicts changed", f"{num(o.changed_parts)} parts end with a verdict other than the model's"),
    ]


def changes_table(data: ReportData) -> Table | None:
    if not data.overrides.changes:
        return None
    rows = tuple(
        (VERDICT_WORD[m], VERDICT_WORD[e], num(n), _change_meaning(m, e)) for m, e, n in data.overrides.changes
    )
    return Table(("Model said", "After review", "Parts", "Meaning"), rows, (False, False, True, False))


def _change_meaning(model: Verdict, effective: Verdict) -> str:
    if model == Verdict.FAIL and effective == Verdict.PASS:
        return "false alarm: the part was good"
    if model == Verdict.PASS and effective == Verdict.FAIL:
        return "missed by the model: caught by an operator"
    if model == Verdict.UNCERTAIN:
        return "uncertain part resolved"
    return "sent for a second look" if effective == Verdict.UNCERTAIN else "changed"


RUN_STATUS = {
    "finished": "finished",
    "cancelled": "cancelled",
    "terminated": "stopped (SIGTERM)",
    "error": "stopped by an error",
    "killed": "KILLED (not closed)",
    "running": "still open",
}


def run_status(run: RunRecord) -> str:
    """How a run ended, in words: a killed station's run never looks like a finished one."""
    return RUN_STATUS.get(run.status, run.status)


def runs_table(data: ReportData) -> Table:
    rows = []
    for u in data.runs:
        run = u.run
        rows.append((
            (run.label or run.source) if run else "(outside any run)",
            (run.lot or "-") if run else "-",
            (run.operator or "-") if run else "-",
            run_status(run) if run else "-",
            format_time(u.first_at, data.tz),
            num(u.inspections),
            num(u.effective.passed),
            num(u.effective.uncertain),
            num(u.effective.failed),
            pct(u.effective.failed, u.inspections),
        ))  # fmt: skip
    return Table(
        ("Run", "Lot", "Operator", "Ended", "First part", "Parts", "Pass", "Uncertain", "Fail", "Fail rate"),
        tuple(rows),
        (False, False, False, False, False, True, True, True, True, True),
    )


def wrong_part_note(data: ReportData) -> str | None:
    """The part-identity check's finding, in words (None when it found nothing)."""
    if not data.wrong_parts:
        return None
    share = pct(data.wrong_parts, data.inspections)
    return (
        f"WRONG PART: {num(data.wrong_parts)} of {num(data.inspections)} parts ({share})"
        " looked like another product than the recipe's (the part-identity check) and were not reviewed yet. "
        "Their anomaly scores say nothing about them: check the changeover and the bins."
    )


def timeline_table(data: ReportData) -> Table | None:
    """The peaks of each video run's score over video time, with their frames (None without video runs)."""
    if not data.timelines:
        return None
    rows = []
    for t in data.timelines:
        name = (t.run.label or t.run.source) if t.run else t.run_id[:8]
        if not t.peaks:
            rows.append((name, f"{num(t.frames)} frames, {t.duration_s:.1f} s", "no peak", "-", "-", "-"))
        for p in t.peaks:
            rows.append((
                name,
                f"{num(t.frames)} frames, {t.duration_s:.1f} s",
                f"{p.time_s:.2f} s",
                "-" if p.frame_index is None else str(p.frame_index),
                score(p.score),
                (p.inspection_id or "-")[:13],
            ))  # fmt: skip
    return Table(
        ("Video run", "Scored", "Peak at", "Frame", "Score", "Part id"),
        tuple(rows),
        (False, False, True, True, True, False),
    )


def defects_table(data: ReportData) -> Table:
    fails = data.effective_counts.failed
    rows = tuple(
        (d.label, num(d.parts), pct(d.parts, fails), num(d.by_operator), num(d.by_captioner)) for d in data.defects
    )
    return Table(
        ("Defect type", "Failed parts", "% of fails", "Labelled by operator", "Captioner's guess"),
        rows,
        (False, True, True, True, True),
    )


def parts_note(data: ReportData) -> str:
    shown, total = len(data.parts), data.parts_total
    what = "parts the model flagged (fail or uncertain), that failed after review, or that an operator reviewed"
    if shown == total:
        return f"{num(total)} {what}, in inspection order."
    return (
        f"{num(total)} {what}; the {num(shown)} listed here are those an operator changed or reviewed first, "
        "then failed, uncertain and high-scoring ones, in inspection order. The CSV export lists every inspection."
    )


def part_title(part: ListedPart, data: ReportData) -> str:
    r = part.record
    name = (r.file_path or r.source or r.id).replace("\\", "/").rsplit("/", 1)[-1]
    return f"{format_time(r.inspected_at, data.tz, seconds=True)}  {name}"


def part_fields(part: ListedPart, data: ReportData) -> list[tuple[str, str]]:
    r = part.record
    verdict = VERDICT_WORD[r.model_verdict]
    if r.effective_verdict != r.model_verdict:
        verdict += f" → {VERDICT_WORD[r.effective_verdict]} after review"
    elif r.override_count:
        verdict += " (kept after review)"
    fields = [
        ("Score", f"{score(r.score)} (threshold {score(r.threshold)})"),
        ("Verdict", verdict),
        ("Defect", f"{part.defect} ({'operator' if part.defect_source == 'operator' else 'captioner guess'})"
         if part.defect else "-"),
        ("Caption", _caption_text(r)),
        ("Run", " / ".join(x for x in (part.run_label, f"lot {part.lot}" if part.lot else None) if x) or "-"),
        ("Recipe", f"{r.recipe_name} v{r.recipe_version}, {r.detector} [{r.model_id}, weights {r.short_fingerprint}]"),
        ("File", (r.file_path or "-") + (f" ({CHANGED})" if CHANGED in part.image_note else "")),
        ("Inspection", r.id),
    ]  # fmt: skip
    if r.random_weights:
        fields.insert(0, ("Warning", "RANDOM WEIGHTS: this score is meaningless"))
    return fields


def history_table(part: ListedPart, data: ReportData) -> Table | None:
    if not part.history:
        return None
    rows = []
    for row in part.history:
        what = f"{VERDICT_WORD[row.previous_verdict]} → {VERDICT_WORD[row.new_verdict]}"
        if row.kind == OverrideKind.UNDO:
            what = f"undo: {what}"
        elif row.previous_verdict == row.new_verdict:
            what = f"confirmed {VERDICT_WORD[row.new_verdict]}"
        label = row.defect_label or "-"
        if row.previous_defect_label != row.defect_label and row.previous_defect_label:
            label = f"{row.previous_defect_label} → {label}"
        rows.append((format_time(row.created_at, data.tz, zone=False), row.operator, what, label, row.note or ""))
    return Table((f"When ({zone_name(data)})", "Who", "Decision", "Defect label", "Note"), tuple(rows), (False,) * 5)


def zone_name(data: ReportData) -> str:
    return to_zone(data.generated_at, data.tz).tzname() or "local time"


def _caption_text(r) -> str:
    """The effective caption: an operator's correction (saying so, with the captioner's text), else the captioner's."""
    if r.caption_corrected:
        machine = f"; captioner: {r.caption}" if r.caption else ""
        return f"{r.corrected_caption} (corrected by {r.caption_corrected_by}{machine})"
    return r.caption or (f"none ({r.caption_reason})" if r.caption_reason else "-")
