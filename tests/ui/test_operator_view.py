"""The full-screen operator view (F11, #13): it repeats the live part, badge and counters, scales them to
the panel, and takes decisions from single keys or big touch buttons, recorded like any other."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from inspector.store import OverrideKind, Verdict, open_store
from tests.ui.conftest import WAIT_MS, write_parts


def test_f11_operator_view_follows_live_scales_and_takes_decisions(qtbot, make_window, tiny_recipe, tmp_path):
    _recipe, path = tiny_recipe
    write_parts(tmp_path / "parts", 3)
    window = make_window(operator="ana")
    window._recipes_changed(str(path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    shown = window.live.overlay.part
    assert shown is not None

    qtbot.keyClick(window, Qt.Key.Key_F11)
    view = window.operator_view
    qtbot.waitUntil(view.isVisible, timeout=WAIT_MS)
    assert view.isFullScreen() or view.windowState() & Qt.WindowState.WindowFullScreen
    assert view.shown.part.inspection_id == shown.inspection_id and view.badge.verdict == shown.verdict
    assert view.counters["inspected"].value.text() == "3"
    assert view.name.text().endswith(f"part {shown.index + 1}")

    # sized to the panel: a 1080p panel gets a bigger verdict and bigger buttons than a 720p one
    view.resize(1280, 720)
    QApplication.processEvents()
    small = (view.badge.text.font().pointSize(), view.buttons["pass"].height())
    view.resize(1920, 1080)
    QApplication.processEvents()
    large = (view.badge.text.font().pointSize(), view.buttons["pass"].height())
    assert large[0] > small[0] and large[1] > small[1] and large[1] >= 80  # finger-sized

    # a key and a touch: both recorded for the part on screen, under the operator's name
    other = Verdict.PASS if shown.verdict != "pass" else Verdict.FAIL
    with qtbot.waitSignal(window.review.override_done, timeout=WAIT_MS):
        qtbot.keyClick(view, Qt.Key.Key_P if other is Verdict.PASS else Qt.Key.Key_F)
    qtbot.waitUntil(lambda: view.feedback.text().startswith("Recorded"), timeout=WAIT_MS)
    with qtbot.waitSignal(window.review.override_done, timeout=WAIT_MS):
        qtbot.mouseClick(view.buttons["uncertain"], Qt.MouseButton.LeftButton)
    with open_store(window.station.settings.database_path) as store:
        trail = store.history(shown.inspection_id)
        assert [(t.operator, t.kind, t.new_verdict) for t in trail] == [
            ("ana", OverrideKind.OVERRIDE, other),
            ("ana", OverrideKind.OVERRIDE, Verdict.UNCERTAIN),
        ]

    qtbot.keyClick(view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=WAIT_MS)
