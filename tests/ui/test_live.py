"""The live screen: a folder run and a live video run with the tiny real detector (random weights)."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt, QTimer

from inspector.store import InspectionFilter, open_store
from tests.ui.conftest import WAIT_MS, write_parts


def _wait_watching(qtbot, window) -> None:
    """A hot folder inspects the images that arrive after it started watching."""
    qtbot.waitUntil(lambda: "running" in window.source_label.text().lower(), timeout=WAIT_MS)


def _choose(window, kind: str, target, recipe_path) -> None:
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice(kind, str(target))


def test_folder_run_shows_badges_trend_counters_and_stores_every_part(qtbot, make_window, tiny_recipe, tmp_path):
    recipe, recipe_path = tiny_recipe
    write_parts(tmp_path / "parts", 9)
    window = make_window()
    live = window.live
    _choose(window, "folder", tmp_path / "parts", recipe_path)
    assert "RANDOM WEIGHTS" in window.windowTitle() and window.random_badge.isVisibleTo(window)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(live.start, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not live.start.isEnabled() and live.stop.isEnabled(), timeout=WAIT_MS)
    summary = finished.args[0]
    assert summary is not None and summary.inspected == 9 and summary.error is None
    assert live.start.isEnabled() and not live.stop.isEnabled()

    # counters, trend and badge
    assert live.counters["inspected"].value.text() == "9"
    assert live.counters["failed"].value.text() == str(summary.failed)
    assert live.counters["uncertain"].value.text() == str(summary.uncertain)
    assert live.trend.n_points == 9
    assert live.trend.threshold_line.isVisible() and live.trend.threshold_line.value() == recipe.threshold
    part = live.overlay.part
    assert part is not None and part.heat is not None and part.outline is not None
    assert part.heat.shape == part.image.shape[:2]
    assert live.badge.verdict == part.verdict and live.badge.text.text() == part.verdict.upper()
    assert "score" in live.badge.detail.text() and "threshold 0.0500" in live.badge.limits.text()
    assert "RANDOM WEIGHTS" in live.badge.note.text()
    assert live.flagged.count() == summary.failed + summary.uncertain

    # what is shown is what was stored: the badge belongs to the frame that was scored
    with open_store(window.station.settings.database_path) as store:
        assert store.count() == 9
        record = store.get(part.inspection_id)
        assert record.model_verdict.value == part.verdict and abs(record.score - part.score) < 1e-9
        assert record.recipe_name == "bracket" and record.recipe_version == 1
        assert store.count(InspectionFilter(random_weights=True)) == 9

    # status bar: device and model
    assert "tiny-dino" in window.model_label.text() and "anomalydino" in window.model_label.text()
    assert "cpu" in window.device_label.text()
    assert "finished" in window.source_label.text().lower()

    # overlay controls only repaint
    qtbot.keyClick(live.overlay, Qt.Key.Key_H)
    assert not live.show_heat.isChecked() and not live.overlay.heat.isVisible()
    live.colormap.setCurrentText("turbo")
    assert live.overlay.colormap == "turbo"

    # a second run of the same folder scores nothing twice
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as again:
        window.controller.start()
    assert again.args[0].duplicates == 9 and again.args[0].inspected == 0


def _write_video(path, frames: int, fps: float = 30.0, size=(96, 80)) -> None:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(3)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def test_live_video_preview_runs_at_camera_rate_and_badge_follows_scored_frames(
    qtbot, make_window, tiny_recipe, tmp_path
):
    _recipe, recipe_path = tiny_recipe
    video = tmp_path / "line.avi"
    _write_video(video, 45)
    window = make_window()
    live = window.live
    _choose(window, "video", video, recipe_path)
    live.play_live.setChecked(True)
    scored_ids = set()
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as finished:
        window.controller.start()
        assert live.preview.isVisibleTo(window)
        while window.controller.running:
            qtbot.wait(30)
            if live.overlay.part is not None:
                scored_ids.add(live.overlay.part.inspection_id)
                assert live.badge.verdict == live.overlay.part.verdict
    summary = finished.args[0]
    assert summary.error is None
    # every camera frame reached the preview, or was dropped and counted (a loaded machine drops some)
    seen = window.controller.feed.frames_seen
    assert seen <= 45 and seen + summary.dropped_frames >= 45
    assert live.frames_shown >= 5  # ... and was painted at screen rate
    assert summary.inspected + summary.dropped_frames + summary.duplicates >= 1
    with open_store(window.station.settings.database_path) as store:
        for inspection_id in scored_ids:  # every badge shown was a stored, scored frame
            assert store.get(inspection_id).source.startswith("video:")


def test_stop_keeps_everything_scored_and_errors_are_messages(qtbot, make_window, tiny_recipe, tmp_path):
    _recipe, recipe_path = tiny_recipe
    window = make_window()
    live = window.live
    _choose(window, "folder", tmp_path / "does-not-exist", recipe_path)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    assert any("does-not-exist" in text or "Nothing found" in text for text in live.messages.texts())
    assert all("Traceback" not in text for text in live.messages.texts())

    folder = tmp_path / "hot"
    folder.mkdir()
    _choose(window, "hot", folder, recipe_path)
    stored = []
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as finished:
        window.controller.start()
        _wait_watching(qtbot, window)
        write_parts(folder, 4)
        qtbot.waitUntil(lambda: live.counters["inspected"].value.text() == "4", timeout=WAIT_MS)
        stored.append(int(live.counters["inspected"].value.text()))
        qtbot.keyClick(live, Qt.Key.Key_F6)
    assert finished.args[0] is None or finished.args[0].inspected == 4
    with open_store(window.station.settings.database_path) as store:
        assert store.count() == stored[0] == 4


def test_closing_during_a_run_stops_workers_and_loses_nothing(qtbot, make_window, tiny_recipe, tmp_path):
    _recipe, recipe_path = tiny_recipe
    folder = tmp_path / "hot"
    folder.mkdir()
    window = make_window()
    _choose(window, "hot", folder, recipe_path)
    window.controller.start()
    _wait_watching(qtbot, window)
    write_parts(folder, 5)
    qtbot.waitUntil(lambda: window.live.counters["inspected"].value.text() == "5", timeout=WAIT_MS)
    window.confirm = lambda _title, _text: True  # "Stop it and quit?" — yes
    window.close()  # deferred until the run has stopped and committed
    qtbot.waitUntil(lambda: window._closed, timeout=WAIT_MS)
    assert not window.controller.running
    with open_store(window.station.settings.database_path) as store:
        assert store.count() == 5
        run = store.runs()[0]
        assert run.ended_at is not None and run.counts.total == 5


def test_review_table_shows_new_parts_while_the_run_is_going(qtbot, make_window, tiny_recipe, tmp_path):
    """Parts stored by a running session reach the review table through the session's notifications."""
    _recipe, recipe_path = tiny_recipe
    folder = tmp_path / "hot"
    folder.mkdir()
    window = make_window()
    window.tabs.setCurrentWidget(window.review)
    _choose(window, "hot", folder, recipe_path)
    parts = write_parts(tmp_path / "made", 5)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
        _wait_watching(qtbot, window)
        for path in parts[:3]:
            path.rename(folder / path.name)
        qtbot.waitUntil(lambda: window.review.model.rowCount() == 3, timeout=WAIT_MS)
        assert window.controller.running  # the hot folder run goes on until stopped
        # the window's writes, the run's verdicts and captions share the session's one writer thread
        assert [t.name for t in threading.enumerate()].count("inspector-db") == 1
        for path in parts[3:]:
            path.rename(folder / path.name)
        qtbot.waitUntil(lambda: window.review.model.rowCount() == 5, timeout=WAIT_MS)
        assert window.controller.running
        window.controller.stop()
    assert window.review.count_label.text() == "5 parts"


def test_captions_show_up_when_they_are_stored(qtbot, make_window, tiny_recipe, tmp_path, settings, caption_factory):
    """The session's caption scheduler (tiny real BLIP) captions every flagged part after its verdict is
    stored; the "caption stored" notification brings it to the live screen and the review detail."""
    from dataclasses import replace

    from inspector.store import CaptionStatus

    _recipe, recipe_path = tiny_recipe
    write_parts(tmp_path / "parts", 6, defect_every=1)  # every part has the pasted square
    window = make_window(settings=replace(settings, captioner_enabled=True), caption_factory=caption_factory)
    assert not hasattr(window.controller, "caption_timer")  # no timer asks the store
    live = window.live
    _choose(window, "folder", tmp_path / "parts", recipe_path)
    captions = []
    polling: list[set[str]] = []  # the repeating timers running when each caption arrived

    def on_change(change) -> None:
        if change.kind == "caption":
            captions.append(change)
            timers = window.findChildren(QTimer)
            repeating = {t.objectName() or repr(t) for t in timers if t.isActive() and not t.isSingleShot()}
            polling.append(repeating - {"live-screen-tick"})  # the tick paints the in-memory feed only

    window.station.bridge.changed.connect(on_change)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    shown = live.overlay.part
    assert shown is not None and shown.verdict in ("fail", "uncertain")
    assert window.station.session.wait_captions(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: shown.inspection_id in {c.inspection_ids[0] for c in captions}, timeout=WAIT_MS)
    with open_store(window.station.settings.database_path) as store:
        record = store.get(shown.inspection_id)
    assert record.caption_status is CaptionStatus.DONE and record.caption.startswith("[random weights]")
    assert live.caption.text() == record.caption
    # no timer asked the store: at most the live screen's paint tick ran when a caption came
    assert polling and all(not active for active in polling), polling
    assert live.defect.text() == record.defect_type
    window.show_inspection(shown.inspection_id)
    qtbot.waitUntil(
        lambda: window.review.detail.data is not None and window.review.detail.data.record.id == shown.inspection_id,
        timeout=WAIT_MS,
    )
    assert window.review.detail.fields["Caption"].text() == record.caption
