"""A video in the window: the Live trend runs on video time with its peak starred, a click on the peak
opens that frame in Review, and Review's timeline (T) lists the peak and opens it too."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from inspector.core.recipe import load_recipe, save_recipe
from inspector.store import open_store
from tests.helpers import bracket_recipe
from tests.pipeline.known_lots import write_video
from tests.ui.conftest import WAIT_MS


def _shot(widget, name: str) -> None:
    target = os.environ.get("INSPECTOR_SCREENSHOTS_DIR")
    if target:
        assert widget.grab().save(str(Path(target) / name))


def _click_at(qtbot, plot, x: float, y: float) -> None:
    """A real mouse click on the plot at data coordinates (x, y)."""
    scene = plot.getPlotItem().vb.mapViewToScene(QPointF(x, y))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene))


@pytest.fixture
def video_recipe(tmp_path, settings, tiny_registry):
    video = tmp_path / "line.avi"
    write_video(video)  # 40 frames at 10 fps, a bright square in frames 24..26
    settings.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = settings.recipes_dir / "bracket.json"
    save_recipe(bracket_recipe(tmp_path / "ref.png"), path)
    return video, path


def test_video_peak_in_live_trend_and_review_timeline_opens_its_frame(qtbot, make_window, video_recipe):
    video, recipe_path = video_recipe
    window = make_window()
    window.resize(1280, 800)
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice("video", str(video))
    window.live.play_live.setChecked(False)  # every frame, in order (not played at camera rate)
    trend = window.live.trend
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS * 4) as finished:
        assert window.controller.start()
    summary = finished.args[0]
    assert summary.error is None and summary.inspected == 40
    (expected,) = summary.timeline_peaks  # the pipeline's peak: the live trend must agree
    qtbot.waitUntil(lambda: trend.n_points == 40, timeout=WAIT_MS)
    trend.refresh(force=True)
    assert trend.getAxis("bottom").labelText == "time in the video (s)"
    assert [(p.time_s, p.inspection_id) for p in trend.peaks] == [(expected.time_s, expected.inspection_id)]
    assert expected.time_s in (pytest.approx(2.4), pytest.approx(2.6))
    _shot(window, "live_video_timeline.png")

    _click_at(qtbot, trend, expected.time_s, expected.score)
    review = window.review
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is review, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.id == expected.inspection_id,
        timeout=WAIT_MS,
    )
    record = review.detail.data.record
    assert record.media_time_s == pytest.approx(expected.time_s)
    qtbot.waitUntil(review.buttons["timeline"].isEnabled, timeout=WAIT_MS)

    # Review: another frame on screen, then the timeline (T) and its peak list take us back to the peak
    with open_store(window.station.settings.database_path) as store:
        first = store.timeline(summary.run_id)[0]
    review.show_part(first.inspection_id)
    qtbot.waitUntil(lambda: review.detail.data.record.id == first.inspection_id, timeout=WAIT_MS)
    review.table.setFocus()
    qtbot.keyClick(review.table, Qt.Key.Key_T)
    dialog = review.timeline_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.peak_list.count() == 1, timeout=WAIT_MS)
    assert dialog.summary.text().startswith("40 scored frames")
    assert [p.inspection_id for p in dialog.plot.peaks] == [expected.inspection_id]
    dialog.resize(900, 520)
    _shot(dialog, "review_video_timeline.png")
    dialog.peak_list.setFocus()
    qtbot.keyClick(dialog.peak_list, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: review.detail.data.record.id == expected.inspection_id, timeout=WAIT_MS)
    dialog.close()
    QApplication.processEvents()


def test_the_recipes_sampling_rate_applies_to_a_video_run_from_the_window(qtbot, make_window, video_recipe):
    video, recipe_path = video_recipe
    recipe = load_recipe(recipe_path)
    save_recipe(dataclasses.replace(recipe, video_sample_fps=5.0), recipe_path)  # 5 of the video's 10 fps
    window = make_window()
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice("video", str(video))
    window.live.play_live.setChecked(False)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS * 4) as finished:
        assert window.controller.start()
    summary = finished.args[0]
    assert summary.error is None and summary.inspected == 20
    with open_store(window.station.settings.database_path) as store:
        times = [p.time_s for p in store.timeline(summary.run_id)]
    assert times == pytest.approx([i * 0.2 for i in range(20)])
