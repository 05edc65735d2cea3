"""CSV rows against the database; the HTML is self-contained and shows the same figures."""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser

import pytest

from inspector.reports.csv_export import CSV_COLUMNS, safe_text, write_csv
from inspector.reports.export import default_outputs, export_report
from inspector.reports.html import render_html
from inspector.reports.learning import learning_blocks
from inspector.reports.scope import ReportScope
from inspector.reports.sections import num
from inspector.store import CaptionStatus, InspectionFilter, Verdict

from .conftest import all_records


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_one_row_per_inspection_matching_the_store(station, tmp_path):
    result, data = write_csv(station.store, None, tmp_path / "all.csv")
    rows = read_csv(result.path)
    assert result.rows == len(rows) == station.store.count() == data.inspections
    assert tuple(rows[0]) == CSV_COLUMNS
    by_id = {r.id: r for r in all_records(station.store)}
    assert set(by_id) == {row["inspection_id"] for row in rows}
    for row in rows:
        rec = by_id[row["inspection_id"]]
        assert float(row["score"]) == rec.score and float(row["threshold"]) == rec.threshold  # exact
        assert (row["model_verdict"], row["effective_verdict"]) == (rec.model_verdict, rec.effective_verdict)
        assert row["verdict_changed"] == ("true" if rec.model_verdict != rec.effective_verdict else "false")
        assert row["random_weights"] == ("true" if rec.random_weights else "false")
        assert int(row["override_count"]) == rec.override_count
        assert row["inspected_at"] == rec.inspected_at.isoformat()
        assert row["defect_label"] == (rec.effective_defect_label or "")
    counted = {v: sum(row["effective_verdict"] == v for row in rows) for v in Verdict}
    assert counted == {v: station.store.count_by_verdict().of(v) for v in Verdict}
    model = {v: sum(row["model_verdict"] == v for row in rows) for v in Verdict}
    assert model == {v: station.store.count_by_verdict(effective=False).of(v) for v in Verdict}
    assert sum(row["random_weights"] == "true" for row in rows) == station.store.count(
        InspectionFilter(random_weights=True)
    )
    assert any(row["last_note"] == "'=found at final check, +2 mm" for row in rows)  # a formula, defused


def test_csv_notes_and_formulas_are_plain_text(station, tmp_path):
    result, _ = write_csv(station.store, ReportScope(lot="L-18"), tmp_path / "b.csv")
    rows = read_csv(result.path)
    notes = {row["last_note"] for row in rows if row["last_note"]}
    assert "reflection, part is fine" in notes or "visible under the ring light" in notes
    assert not any(n.startswith("=") for n in notes)
    assert safe_text("=HYPERLINK(1)") == "'=HYPERLINK(1)" and safe_text("-3") == "'-3" and safe_text("ok") == "ok"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.styles = [], [], []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "action", "data", "background") and value is not None:
                self.refs.append(value)
            if name == "style" and value:
                self.styles.append(value)

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def test_html_makes_no_external_request_and_shows_the_counts(report_data):
    text = render_html(report_data)
    parser = _Refs()
    parser.feed(text)
    assert parser.refs and all(ref.startswith(("data:", "#")) for ref in parser.refs)
    assert not {"script", "link", "iframe", "object", "embed", "base"} & set(parser.tags)
    for css in parser.styles:
        assert "@import" not in css
        assert all(u.strip("'\" ").startswith("data:") for u in re.findall(r"url\(([^)]*)\)", css))
    d = report_data
    assert f">{num(d.inspections)}<" in text
    assert f">{num(d.effective_counts.failed)}<" in text
    assert text.count('class="part') == len(d.parts) == d.parts_total
    assert text.count("data:image/jpeg;base64,") == 2 * len(d.parts)
    learning = sum(len(b.images) for b in learning_blocks(d.learning))  # reviewed-parts ROC, drift charts
    assert text.count("data:image/png;base64,") == 3 + learning  # histogram, trend, defect types, learning
    assert "RANDOM WEIGHTS" in text and 'class="banner"' in text
    assert f"{num(d.random_weights)} of {num(d.inspections)} inspections" in text


def test_export_report_writes_consistent_files_and_escapes_text(scratch_station, tmp_path):
    store = scratch_station
    target = next(r for r in all_records(store) if r.model_verdict == Verdict.FAIL)
    store.set_caption(
        target.id, status=CaptionStatus.DONE, caption="<script>alert(1)</script> & <b>dent</b>", defect_type="dent"
    )
    outputs = default_outputs(tmp_path / "out", ReportScope(lot="L-17"), ("html", "csv"))
    result = export_report(store, ReportScope(lot="L-17"), outputs)
    assert set(result.files) == {"html", "csv"} and all(p.is_file() for p in result.files.values())
    assert result.csv_rows == result.data.inspections == len(read_csv(result.files["csv"]))
    text = result.files["html"].read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;dent&lt;/b&gt;" in text
    assert "RANDOM WEIGHTS" not in text  # lot L-17 (shift A) used real weights only
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_bad_format_is_refused(station, tmp_path):
    from inspector.reports.scope import ReportError

    with pytest.raises(ReportError, match="Unknown report format 'docx'"):
        export_report(station.store, None, {"docx": tmp_path / "x.docx"})
