"""Live screen fixes from the operator trial (#13): the lot typed on Live is kept with the run (so the
report / export lot filter finds it), numbers read right (part numbers from 1, Images/s never a false
0.0), Stop says what it did, no stale "Waiting for the first part…", and a hint for images in sub-folders."""

from __future__ import annotations

from inspector.reports import ReportScope
from inspector.reports.data import gather_report
from inspector.store import open_store
from tests.ui.conftest import WAIT_MS, write_parts


def _label(overlay) -> str:
    return overlay._label.toPlainText() if overlay._label.isVisible() else ""


def test_the_lot_typed_on_live_is_kept_with_the_run_and_found_by_the_lot_filter(
    qtbot, make_window, tiny_recipe, tmp_path
):
    _recipe, path = tiny_recipe
    write_parts(tmp_path / "parts", 3)
    window = make_window()
    live = window.live
    window._recipes_changed(str(path))
    live.set_source_choice("folder", str(tmp_path / "parts"))
    live.lot.setText("  L-17  ")
    assert live.counters["rate"].value.text() in ("0", "—")
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
        assert not live.lot.isEnabled()  # kept for the whole run
    assert live.lot.isEnabled()
    rate = live.counters["rate"].value.text()
    assert rate not in ("0.0", "—") and float(rate) > 0  # parts arrived: a rate, not 0.0
    shown = live.overlay.part
    assert live.part_label.text().endswith(f"part {shown.index + 1}")  # counted from 1, like Inspected
    assert "lot L-17" in live.stage.text()
    with open_store(window.station.settings.database_path) as store:
        (run,) = store.runs()
        assert run.lot == "L-17"
        assert gather_report(store, ReportScope(lot="L-17")).inspections == 3  # the export's Lot filter


def test_stop_says_so_and_no_stale_waiting_placeholder(qtbot, make_window, tiny_recipe, tmp_path):
    _recipe, path = tiny_recipe
    window = make_window()
    live = window.live
    window._recipes_changed(str(path))

    # an error: the placeholder says the run stopped, not "Waiting for the first part…"
    live.set_source_choice("folder", str(tmp_path / "does-not-exist"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    assert "error" in _label(live.overlay) and "Waiting" not in _label(live.overlay)

    # stopped before any part arrived
    hot = tmp_path / "hot"
    hot.mkdir()
    live.set_source_choice("hot", str(hot))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
        qtbot.waitUntil(lambda: "running" in window.source_label.text().lower(), timeout=WAIT_MS)
        window.controller.stop()
        assert "already being scored" in live.stage.text()
    assert _label(live.overlay) == "Stopped before the first part"
    assert live.stage.text().startswith("Stopped by the operator") and "Run finished" not in live.stage.text()

    # stopped after parts: the stage says it was stopped, with what was stored
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
        qtbot.waitUntil(lambda: "running" in window.source_label.text().lower(), timeout=WAIT_MS)
        write_parts(hot, 2)
        qtbot.waitUntil(lambda: live.counters["inspected"].value.text() == "2", timeout=WAIT_MS)
        window.controller.stop()
    assert live.stage.text().startswith("Stopped by the operator: 2 inspected")


def test_a_folder_whose_images_sit_in_sub_folders_gets_a_hint(qtbot, make_window, tiny_recipe, tmp_path):
    _recipe, path = tiny_recipe
    top = tmp_path / "line"
    write_parts(top / "monday", 2)
    write_parts(top / "tuesday", 3)
    window = make_window()
    live = window.live
    window._recipes_changed(str(path))
    live.set_source_choice("folder", str(top))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    qtbot.waitUntil(lambda: any("sub-folders" in t for t in live.messages.texts()), timeout=WAIT_MS)
    hint = next(t for t in live.messages.texts() if "sub-folders" in t)
    assert "monday (2)" in hint and "tuesday (3)" in hint and "5 in its sub-folders" in hint
    assert "Waiting" not in _label(live.overlay)
