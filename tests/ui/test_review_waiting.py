"""The review screen says how many parts the station queued for review, and why, and lists them."""

from __future__ import annotations

import hashlib

from inspector.store import InspectionFilter, NewInspection, Verdict, open_store
from inspector.ui.review_model import COLUMN, COLUMNS
from inspector.ui.review_waiting import TO_REVIEW
from tests.ui.conftest import WAIT_MS


def test_waiting_count_by_reason_and_the_to_review_filter(qtbot, make_window, inspected, settings):
    with open_store(settings.database_path) as store:
        base = store.query(InspectionFilter(), limit=1)[0]
        extra = [
            NewInspection(
                content_hash=hashlib.sha256(f"queued-{i}".encode()).hexdigest(),
                recipe_version_id=base.recipe_version_id,
                score=0.01,
                threshold=0.05,
                verdict=Verdict.PASS,
                detector=base.detector,
                model_id=base.model_id,
                review_reason=reason,
            )
            for i, reason in enumerate(["sample", "sample", "near threshold"])
        ]
        store.add_inspections(extra)
        expected = store.count(InspectionFilter(to_review=True))
        by_reason = {}
        for r in store.query(InspectionFilter(to_review=True), limit=100):
            by_reason[r.review_reason] = by_reason.get(r.review_reason, 0) + 1
    assert by_reason["sample"] == 2 and by_reason["near threshold"] >= 1
    window = make_window(operator="ana")
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.waiting.counts == by_reason, timeout=WAIT_MS)
    assert review.waiting.text().startswith(f"{expected} waiting for review:")
    assert "2 sample" in review.waiting.text()
    review.waiting.click()
    assert review.reviewed.currentData() == TO_REVIEW
    qtbot.waitUntil(lambda: review.model.rowCount() == expected, timeout=WAIT_MS)
    why = [COLUMNS[COLUMN["Why queued"]][1](review.model.record(row)) for row in range(expected)]
    assert sorted(why) == sorted(k for k, n in by_reason.items() for _ in range(n))
    review.select_row(0)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.id == review.current_record().id,
        timeout=WAIT_MS,
    )
    reason = review.current_record().review_reason
    assert review.detail.fields["Why queued"].text().startswith(f"{reason}: ")
