"""The report's "Station learning" part: reviewed-parts rates and ROC, the drift chart, in HTML and PDF."""

from __future__ import annotations

import io
from datetime import UTC

import numpy as np
from PIL import Image

from inspector.core.drift import ControlLimits, drift_chart, reference_scores
from inspector.core.review_stats import Limits, review_stats
from inspector.reports.data import gather_report
from inspector.reports.html import render_html
from inspector.reports.learning import learning_blocks
from inspector.reports.pdf import write_pdf
from inspector.reports.scope import ReportScope
from inspector.store import InspectionFilter, Order
from inspector.store.labels import standing_verdict

from .factory import build_station


def test_drift_and_reviewed_rates_in_the_report(tmp_path):
    station = build_station(tmp_path / "db" / "inspector.db", n=160, calibration_good=30, drift_from=0.5)
    store = station.store
    data = gather_report(store, ReportScope(lot="L-18"), tz=UTC)
    (v2,) = [v for v in data.learning.versions]
    assert (v2.name, v2.version) == ("bracket-A", 2)

    # the same figures computed here from the store, by the core functions
    records = store.query(InspectionFilter(run_id=station.run_b), limit=1000, order=Order.OLDEST)
    body = store.get_recipe_version(station.recipe_v2).body
    limits = ControlLimits.from_reference(reference_scores(body["calibration"]))
    expected = drift_chart([r.score for r in records if r.model_verdict.value != "fail"], limits)
    assert v2.drift.means == expected.means and v2.drift.alarms == expected.alarms
    assert not v2.drift.in_control  # good parts score 0.12 higher in the second half of the shift
    half = len(v2.drift.means) // 2
    late = [a for a in v2.drift.alarms if "above" in a.rule and a.subgroup >= half]
    early = [a for a in v2.drift.alarms if "above" in a.rule and a.subgroup < half - 1]
    assert len(late) > len(early), v2.drift.alarms
    good, bad = [], []
    for r in records:
        decision = standing_verdict(store.history(r.id)) if r.reviewed else None
        if decision is not None and decision.value in ("pass", "fail"):
            (bad if decision.value == "fail" else good).append(r.score)
    review = review_stats(good, bad, Limits(0.55, (0.5, 0.6)))
    assert v2.review.current == review.current and len(v2.review.defective) == len(bad) > 0

    blocks = learning_blocks(data.learning)
    assert [b.title for b in blocks] == ["Reviewed parts - bracket-A v2", "Score drift - bracket-A v2"]
    drift_png = blocks[1].images[0][1]
    with Image.open(io.BytesIO(drift_png)) as picture:
        pixels = np.asarray(picture.convert("RGB"), dtype=np.float32)
    assert picture.width == 1400 and pixels.std() > 10
    html = render_html(data)
    assert "<h2>Station learning</h2>" in html and "Score drift - bracket-A v2" in html
    assert "signal(s) in" in html and "Escape rate (defective parts passed)" in html
    result = write_pdf(data, tmp_path / "report.pdf")
    assert result.pages >= 2
    store.close()


def test_no_calibration_scores_says_why_there_is_no_drift_chart(tmp_path):
    station = build_station(tmp_path / "db" / "inspector.db", n=60)
    data = gather_report(station.store, tz=UTC, charts=False)
    assert all(v.drift is None and "no calibration good scores" in v.drift_note for v in data.learning.versions)
    station.store.close()
