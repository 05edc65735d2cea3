"""The live screen: a folder run and a live video run with the tiny real detector (random weights)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

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


def test_captions_show_up_when_they_arrive(qtbot, make_window, tiny_recipe, tmp_path, settings):
    """The caption hook gets every flagged part after its verdict is stored; what it writes to the store
    appears in the live screen and in the review detail."""
    from dataclasses import replace

    from inspector.store import CaptionStatus

    _recipe, recipe_path = tiny_recipe
    write_parts(tmp_path / "parts", 6, defect_every=1)  # every part has the pasted square
    flagged = []

    class FakeCaptions:
        def __init__(self, station):
            self.station = station

        def __call__(self, part):  # on the pipeline's writer thread
            flagged.append(part.inspection_id)
            self.station.ops.writer.call(
                lambda s: s.set_caption(
                    part.inspection_id,
                    status=CaptionStatus.DONE,
                    caption=f"a {part.object_name} with a bright square",
                    defect_type="square",
                    defect_confidence=0.9,
                )
            )

        def close(self):
            pass

    window = make_window(
        settings=replace(settings, captioner_enabled=True),
        caption_hook_factory=lambda station, recipe: FakeCaptions(station),
    )
    live = window.live
    _choose(window, "folder", tmp_path / "parts", recipe_path)
    recipe = window.controller
    with qtbot.waitSignal(recipe.run_finished, timeout=WAIT_MS):
        window.controller.start()
    shown = live.overlay.part
    assert flagged and shown.inspection_id in flagged
    qtbot.waitUntil(lambda: live.caption.text() == "a bracket with a bright square", timeout=WAIT_MS)
    assert live.defect.text() == "square"
    window.show_inspection(shown.inspection_id)
    qtbot.waitUntil(
        lambda: window.review.detail.data is not None and window.review.detail.data.record.id == shown.inspection_id,
        timeout=WAIT_MS,
    )
    assert window.review.detail.fields["Caption"].text() == "a bracket with a bright square"
    assert window.review.detail.fields["Defect type"].text() == "square (90%)"
