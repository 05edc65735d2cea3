"""The report lists a video run's peaks with their frames, and says how many parts were WRONG PART."""

from __future__ import annotations

import dataclasses

import pytest

from inspector.pipeline import InspectionPipeline
from inspector.reports.data import gather_report
from inspector.reports.html import render_html
from inspector.reports.pdf import write_pdf
from inspector.reports.sections import timeline_table, wrong_part_note
from inspector.sources import make_source
from inspector.store import open_store
from tests.helpers import bracket_recipe, fitted_tiny_dino
from tests.pipeline.known_lots import write_video
from tests.reports.test_pdf import pdf_text
from tests.store.conftest import make_items


@pytest.fixture
def video_store(tmp_path, tiny_registry):
    video = tmp_path / "line.avi"
    write_video(video)  # 40 frames at 10 fps, a bright square in frames 24..26
    recipe = bracket_recipe(tmp_path / "ref.png")
    detector = fitted_tiny_dino(recipe)
    store = open_store(tmp_path / "db.sqlite")
    summary = InspectionPipeline(recipe, detector, store, make_source(video)).run()
    assert summary.inspected == 40 and len(summary.timeline_peaks) == 1
    version = store.recipe_versions("bracket")[-1]
    wrong = [dataclasses.replace(i, wrong_part=True, identity_reason="a gear") for i in make_items(3, version.id)]
    store.add_inspections(wrong)  # three parts the identity check called another product
    yield store, summary
    store.close()


def test_report_lists_the_video_peak_with_its_frame_and_counts_wrong_parts(video_store, tmp_path):
    store, summary = video_store
    (peak,) = summary.timeline_peaks
    data = gather_report(store, charts=False, images=False)
    (timeline,) = data.timelines
    assert timeline.run_id == summary.run_id and timeline.frames == 40
    assert [(p.time_s, p.frame_index, p.inspection_id) for p in timeline.peaks] == [
        (pytest.approx(peak.time_s), round(peak.time_s * 10), peak.inspection_id)
    ]
    table = timeline_table(data)
    assert (
        table is not None
        and table.rows[0][2] == f"{peak.time_s:.2f} s"
        and table.rows[0][3] == str(round(peak.time_s * 10))
    )
    assert data.wrong_parts == 3
    note = wrong_part_note(data)
    assert note is not None and note.startswith("WRONG PART: 3 of 43 parts")

    html = render_html(data)
    assert "Video timelines" in html and f"{peak.time_s:.2f} s" in html and "WRONG PART: 3 of 43" in html
    text = pdf_text(write_pdf(data, tmp_path / "report.pdf").path)
    assert "Video timelines" in text and f"{peak.time_s:.2f} s" in text and "WRONG PART: 3 of 43" in text
