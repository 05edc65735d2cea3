"""Live's drift warning: hidden while the scores stay inside the calibration set's control limits."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt

from inspector.core.recipe import save_recipe
from inspector.ui.drift_banner import DriftBanner
from tests.ui.conftest import WAIT_MS, write_parts

REFERENCE = {"good_scores": [0.1, 0.2, 0.3, 0.4, 0.5]}  # mean .3, sd .158: X-bar limits .088 .. .512


def test_banner_warns_on_a_shift_and_ignores_failed_parts(qtbot):
    banner = DriftBanner()
    qtbot.addWidget(banner)
    banner.set_reference(REFERENCE)
    for s in [0.3, 0.25, 0.35, 0.3, 0.3] * 2:
        banner.add(s, "pass")
    assert banner.isHidden() and banner.alarm_text == ""
    for _ in range(5):
        banner.add(0.95, "fail")  # failed outright: not part of the chart
    assert banner.isHidden()
    for s in [0.6, 0.55, 0.65, 0.6, 0.6]:
        banner.add(s, "uncertain")
    assert not banner.isHidden() and "mean above its upper control limit" in banner.alarm_text
    assert "last 5 parts: mean 0.6" in banner.alarm_text
    banner.set_reference({})  # a recipe without calibration scores: no drift check
    assert banner.isHidden()
    for s in [0.9] * 5:
        banner.add(s, "pass")
    assert banner.isHidden()


def test_a_live_run_feeds_the_banner_with_the_recipes_calibration(qtbot, make_window, tiny_recipe, tmp_path):
    recipe, path = tiny_recipe
    # every part passes (threshold far above any score) and the calibration set scored far higher:
    # whatever the random weights give, the run's mean is below the lower control limit
    save_recipe(
        replace(recipe, threshold=1e6, uncertain_band=None, calibration={"good_scores": [1000.0, 1000.5, 1001.0]}),
        path,
    )
    write_parts(tmp_path / "parts", 6)
    window = make_window()
    window._recipes_changed(str(path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        qtbot.mouseClick(window.live.start, Qt.MouseButton.LeftButton)
    drift = window.live.drift
    assert drift.isVisibleTo(window) and "mean below its lower control limit" in drift.alarm_text
    assert "from 3 calibration good scores" in drift.alarm_text
