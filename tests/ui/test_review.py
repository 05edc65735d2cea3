"""The review queue: relabel from the keyboard, audit trail, undo, filters, the lazy table."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from inspector.store import NewInspection, OverrideKind, Verdict, open_store
from inspector.ui.review_model import PAGE, InspectionTableModel
from inspector.ui.workers import Tasks
from tests.ui.conftest import WAIT_MS


def _open_review(qtbot, window):
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.model.rowCount() > 0 and review.detail.data is not None, timeout=WAIT_MS)
    window.activateWindow()
    review.table.setFocus()  # (the review screen also puts the focus there when it is shown)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is review.table, timeout=WAIT_MS)
    return review


def test_relabel_from_keyboard_goes_to_the_audit_trail_and_history(qtbot, make_window, inspected, settings):
    window = make_window(operator="ana")
    review = _open_review(qtbot, window)
    assert review.count_label.text() == "9 parts"
    first = review.current_record()
    assert review.current_row() == 0 and review.detail.data.record.id == first.id
    assert review.detail.data.part is not None and review.detail.data.part.heat is not None
    assert review.detail.history_texts() == ["No decisions yet."]
    assert review.detail.fields["Model"].text().endswith(f"weights {first.short_fingerprint}")
    assert first.short_fingerprint == "random:0"  # the fixture's parts were scored with seeded random weights
    new = Verdict.PASS if first.model_verdict is not Verdict.PASS else Verdict.FAIL
    key = Qt.Key.Key_P if new is Verdict.PASS else Qt.Key.Key_F

    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(review.table, key)
    qtbot.waitUntil(lambda: review.current_row() == 1, timeout=WAIT_MS)  # moved on to the next part
    with open_store(settings.database_path) as store:
        trail = store.history(first.id)
        assert [(t.operator, t.kind, t.previous_verdict, t.new_verdict) for t in trail] == [
            ("ana", OverrideKind.OVERRIDE, first.model_verdict, new)
        ]
        assert store.get(first.id).effective_verdict is new
    assert window.station.session_overrides == 1

    # K goes back; the history shows the decision with the operator's name
    qtbot.keyClick(review.table, Qt.Key.Key_K)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.id == first.id, timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: "ana" in review.detail.history_texts()[0], timeout=WAIT_MS)
    assert new.value.upper() in review.detail.history_texts()[0]
    assert review.detail.badge.verdict == new.value

    # D: defect label, N: note (the dialogs are replaced by answers)
    review.ask_label = lambda _parent, classes, _current: classes[0]
    review.ask_note = lambda _parent: "burr on the edge"
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(review.table, Qt.Key.Key_D)
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(review.table, Qt.Key.Key_N)
    with open_store(settings.database_path) as store:
        record = store.get(first.id)
        assert record.effective_defect_label == "square" and record.effective_verdict is new
        assert store.history(first.id)[-1].note == "burr on the edge"

    # Ctrl+Z takes back the last decision, with a new audit row (nothing is deleted)
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(review.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with open_store(settings.database_path) as store:
        trail = store.history(first.id)
        assert len(trail) == 4 and trail[-1].kind is OverrideKind.UNDO and trail[-1].operator == "ana"
    qtbot.waitUntil(lambda: "undid" in review.detail.history_texts()[0], timeout=WAIT_MS)
    assert len(review.detail.history_texts()) == 4


def test_filters_narrow_the_table(qtbot, make_window, inspected, settings):
    window = make_window()
    review = _open_review(qtbot, window)
    with open_store(settings.database_path) as store:
        counts = store.count_by_verdict()
    review.verdict_boxes[Verdict.PASS].setChecked(False)
    qtbot.waitUntil(lambda: review.model.rowCount() == counts.failed + counts.uncertain, timeout=WAIT_MS)
    assert all(review.model.record(r).effective_verdict is not Verdict.PASS for r in range(review.model.rowCount()))
    review.verdict_boxes[Verdict.PASS].setChecked(True)
    review.reviewed.setCurrentIndex(review.reviewed.findData(True))
    qtbot.waitUntil(lambda: review.model.rowCount() == 0, timeout=WAIT_MS)
    review.reviewed.setCurrentIndex(0)

    def search(text: str) -> list[str]:
        """The file names listed once the table has reloaded with ``text`` as its search."""
        review.text.setText(text)
        qtbot.waitUntil(
            lambda: (review.model.filter.search or "") == text and not review.model.loading, timeout=WAIT_MS
        )
        return sorted(Path(review.model.record(r).file_path).name for r in range(review.model.rowCount()))

    everything = search("part_00")
    assert len(everything) == 9 and all("part_00" in name for name in everything)
    assert search("part_003") == [n for n in everything if "part_003" in n] and len(search("part_003")) == 1
    assert search("no-such-part") == []
    part = review.model.record(0) if search("") else None
    assert part is not None and search(part.id[:13]) == [Path(part.file_path).name]  # id prefix
    review.text.setText("")
    review.use_dates.setChecked(True)
    review.date_to.setDate(review.date_from.date().addDays(-1))
    qtbot.waitUntil(lambda: review.model.rowCount() == 0, timeout=WAIT_MS)


def test_lazy_model_loads_pages_on_demand(qtbot, tmp_path):
    with open_store(tmp_path / "big.db") as store:
        version = store.save_recipe_version("bulk", {"n": 1})
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        store.add_inspections(
            [
                NewInspection(
                    content_hash=hashlib.sha256(f"p{i}".encode()).hexdigest(),
                    recipe_version_id=version.id,
                    score=i / 3000,
                    threshold=0.5,
                    verdict=Verdict.FAIL if i % 5 == 0 else Verdict.PASS,
                    detector="anomalydino",
                    model_id="tiny",
                    file_path=f"/parts/p{i:05d}.png",
                    inspected_at=t0 + timedelta(seconds=i),
                )
                for i in range(3 * PAGE + 7)
            ]
        )
        tasks = Tasks()
        model = InspectionTableModel(tasks)
        model.set_store(store)
        with qtbot.waitSignal(model.count_changed, timeout=WAIT_MS):
            model.reload()
        assert model.rowCount() == 3 * PAGE + 7 and model.pages_loaded == 1
        last = model.rowCount() - 1
        assert model.data(model.index(last, 0)) == "…"  # not loaded yet: requested
        qtbot.waitUntil(lambda: model.record(last, fetch=False) is not None, timeout=WAIT_MS)
        assert model.record(last).file_path == "/parts/p00000.png"  # newest first
        assert model.pages_loaded == 2
        tasks.shutdown()
