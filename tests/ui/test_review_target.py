"""Review fixes from the operator trial (#13): the decision lands on the part on screen, Refresh works,
search by file name and part id, the File column is on screen, undo says what it undid, Z resets zoom."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from inspector.store import InspectionFilter, Verdict, open_store
from tests.ui.conftest import WAIT_MS


def _open_review(qtbot, window):
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.model.rowCount() > 0 and review.detail.data is not None, timeout=WAIT_MS)
    window.activateWindow()
    review.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is review.table, timeout=WAIT_MS)
    return review


def _double_click_flagged(qtbot, live, inspection_id: str) -> None:
    live.add_flagged("FAIL  0.9  part.png", "fail", inspection_id)
    item = live.flagged.item(0)
    rect = live.flagged.visualItemRect(item)
    qtbot.mouseClick(live.flagged.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(live.flagged.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_part_opened_from_live_is_the_one_selected_and_relabelled(qtbot, make_window, inspected, settings):
    window = make_window(operator="ana")
    review = _open_review(qtbot, window)
    assert review.current_row() == 0
    wanted = review.model.record(5)
    window.tabs.setCurrentWidget(window.live)
    _double_click_flagged(qtbot, window.live, wanted.id)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.id == wanted.id, timeout=WAIT_MS
    )
    assert window.tabs.currentWidget() is review
    assert review.current_row() == 5 and review.current_record().id == wanted.id  # the selection followed

    new = Verdict.PASS if wanted.effective_verdict is not Verdict.PASS else Verdict.FAIL
    review.advance.setChecked(False)
    review.table.setFocus()
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS) as done:
        qtbot.keyClick(review.table, Qt.Key.Key_P if new is Verdict.PASS else Qt.Key.Key_F)
    assert done.args == [wanted.id]
    with open_store(settings.database_path) as store:
        assert store.get(wanted.id).effective_verdict is new
        assert store.count(InspectionFilter(reviewed=True)) == 1  # no other part was touched

    # a part hidden by the filters: the filters are reset so that it is listed and selected
    review.verdict_boxes[Verdict.PASS].setChecked(False)
    review.verdict_boxes[Verdict.FAIL].setChecked(False)
    review.verdict_boxes[Verdict.UNCERTAIN].setChecked(False)
    qtbot.waitUntil(lambda: review.model.rowCount() == 0, timeout=WAIT_MS)
    other = wanted.id
    window.show_inspection(other)
    qtbot.waitUntil(
        lambda: review.current_record() is not None and review.current_record().id == other, timeout=WAIT_MS
    )
    assert review.model.rowCount() == 9 and all(box.isChecked() for box in review.verdict_boxes.values())
    qtbot.waitUntil(lambda: review.shown_record() is not None and review.shown_record().id == other, timeout=WAIT_MS)


def test_refresh_button_and_ctrl_r_reload_without_errors(qtbot, make_window, inspected):
    window = make_window()
    review = _open_review(qtbot, window)
    review.select_row(3)
    shown = review.model.record(3).id
    qtbot.waitUntil(lambda: review.shown_record() is not None and review.shown_record().id == shown, timeout=WAIT_MS)
    for trigger in (
        lambda: qtbot.mouseClick(review.refresh_button, Qt.MouseButton.LeftButton),
        lambda: qtbot.keyClick(review.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier),
    ):
        generation = review.model._generation
        trigger()  # before the fix: TypeError: 'bool' object is not callable (a failure under pytest-qt)
        qtbot.waitUntil(lambda g=generation: review.model._generation > g and not review.model.loading, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: review.current_record() is not None, timeout=WAIT_MS)
        assert review.current_record().id == shown  # the part on screen stays selected


def test_search_by_file_name_and_part_id_and_the_file_column_is_on_screen(qtbot, make_window, inspected):
    from inspector.ui.review_model import COLUMNS

    column = {title: i for i, (title, *_rest) in enumerate(COLUMNS)}
    window = make_window()
    window.resize(1280, 800)
    review = _open_review(qtbot, window)
    review.text.setText("part_003")
    qtbot.waitUntil(lambda: review.model.rowCount() == 1, timeout=WAIT_MS)
    record = review.model.record(0)
    assert record.file_path.endswith("part_003.png")
    assert review.model.data(review.model.index(0, column["File"])) == "part_003.png"
    review.text.setText(record.id[:13])  # the start of a part id (as printed in reports and logs)
    qtbot.waitUntil(lambda: review.model.rowCount() >= 1 and review.model.record(0).id == record.id, timeout=WAIT_MS)
    review.text.setText("no-such-part")
    qtbot.waitUntil(lambda: review.model.rowCount() == 0, timeout=WAIT_MS)
    review.text.clear()
    qtbot.waitUntil(lambda: review.model.rowCount() == 9, timeout=WAIT_MS)

    header = review.table.horizontalHeader()
    right = header.sectionViewportPosition(column["File"]) + header.sectionSize(column["File"])
    assert header.sectionViewportPosition(column["File"]) >= 0 and right <= review.table.viewport().width()
    metrics = header.fontMetrics()
    for title in ("Threshold", "Verdict", "Reviewed by", "Score"):  # titles are not cut ("hresho")
        assert header.sectionSize(column[title]) >= metrics.horizontalAdvance(title) + 12


def test_undo_says_what_it_undid_and_z_resets_the_zoom(qtbot, make_window, inspected):
    window = make_window(operator="ana")
    review = _open_review(qtbot, window)
    review.advance.setChecked(False)
    first = review.shown_record()
    new = Verdict.PASS if first.effective_verdict is not Verdict.PASS else Verdict.FAIL
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        review.relabel(new)
    with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(review.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    before, after = first.effective_verdict.value.upper(), new.value.upper()
    qtbot.waitUntil(lambda: "undid" in review.detail.history_texts()[0], timeout=WAIT_MS)
    line = review.detail.history_texts()[0]
    assert f"ana's {before} → {after}" in line and line.endswith(f"back to {before}")

    overlay = review.detail.overlay
    width = overlay.part.image.shape[1]
    overlay.view.scaleBy((0.25, 0.25))  # zoomed in (as with the mouse wheel)
    (x0, x1), _ = overlay.view.viewRange()
    assert x1 - x0 < width * 0.5
    qtbot.keyClick(review.table, Qt.Key.Key_Z)
    (x0, x1), _ = overlay.view.viewRange()
    assert x1 - x0 >= width * 0.99
