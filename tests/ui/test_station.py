"""Operator log-in (name, optional PIN), settings, themes, the overlay preparation and the live preview."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from inspector.sources import SourceError, SourceKind, SourceSpec, SourceState, make_source
from inspector.ui.heatmap_overlay import colour_lut, compose, prepare_part
from inspector.ui.live_worker import SourceChoice
from inspector.ui.login import LoginDialog
from inspector.ui.settings import SettingsDialog, StationSettings, load_settings, save_settings
from inspector.ui.theme import apply_theme, colour
from tests.ui.conftest import WAIT_MS, write_parts


def test_window_title_shows_the_operator_after_switching(qtbot, make_window, monkeypatch):
    window = make_window(operator="ana", random_weights=False, check_weights_on_start=False)
    assert window.windowTitle() == "Inspector — ana"

    class Answer(LoginDialog):
        def exec(self):
            self.operator = "bo"
            return 1

    monkeypatch.setattr("inspector.ui.main_window.LoginDialog", Answer)
    window.switch_operator()
    qtbot.waitUntil(lambda: window.station.operator == "bo", timeout=WAIT_MS)
    assert window.windowTitle() == "Inspector — bo" and "bo" in window.operator_label.text()
    assert load_settings().last_operator == "bo"


def test_settings_round_trip_and_themes(qtbot, tmp_path):
    path = tmp_path / "s.json"
    settings = StationSettings(device="cpu", theme="dark", captioner_enabled=True)
    save_settings(settings, path)
    loaded = load_settings(path)
    assert loaded == settings
    path.write_text("{ not json")
    assert load_settings(path) == StationSettings()

    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.theme.setCurrentText("light")
    dialog.captioner.setChecked(False)
    dialog.data_folder.setText(str(tmp_path / "elsewhere"))
    result = dialog.result_settings()
    assert result.theme == "light" and not result.captioner_enabled
    assert result.database_path == tmp_path / "elsewhere" / "inspector.db"

    app = QApplication.instance()
    apply_theme(app, "dark")
    assert colour("dark", "window") in app.styleSheet()
    apply_theme(app, "light")
    assert colour("light", "window") in app.styleSheet()


def test_overlay_preparation_downsizes_normalises_and_outlines():
    image = np.full((900, 1800, 3), 120, dtype=np.uint8)
    amap = np.zeros((900, 1800), dtype=np.float32)
    amap[300:500, 600:900] = 1.0
    part = prepare_part(image, amap, threshold=0.5, max_side=900, score=0.9, verdict="fail")
    assert part.image.shape == (450, 900, 3) and part.heat.shape == (450, 900) and part.outline.shape == (450, 900, 4)
    assert part.heat[200, 350] == 255 and part.heat[10, 10] == 0
    assert part.outline[:, :, 3].any() and not part.outline[10, 10, 3]
    assert 0.03 < part.over_threshold_fraction < 0.05
    lut = colour_lut("inferno")
    assert lut.shape == (256, 4) and lut[0, 3] == 0 and lut[255, 3] == 255
    shown = compose(part, opacity=1.0)
    assert shown.shape == part.image.shape and not np.array_equal(shown[200, 350], part.image[200, 350])
    assert np.array_equal(shown[10, 10], part.image[10, 10])  # a good surface stays untouched


def test_on_frame_previews_every_frame_and_the_consumer_still_gets_them(tmp_path):
    write_parts(tmp_path / "parts", 5)
    seen = []
    source = make_source(tmp_path / "parts")
    source.on_frame = lambda frame: seen.append(frame.index)
    source.open()  # opened before the consumer (as the session does): frames wait in the buffer
    assert source.opened
    with source:
        frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4] == seen
    assert all(f.ok for f in frames) and source.total == 5
    assert source.state is SourceState.FINISHED
    assert not [t for t in threading.enumerate() if t.name.startswith("source-")]


def test_source_choices_build_the_specs_the_sources_understand():
    assert SourceChoice("folder", "/data/lot").spec() == SourceSpec(SourceKind.FOLDER, Path("/data/lot"))
    assert SourceChoice("hot", "/data/in").spec() == SourceSpec(SourceKind.HOT_FOLDER, Path("/data/in"))
    assert SourceChoice("camera", "0").spec() == SourceSpec(SourceKind.CAMERA, 0)
    assert SourceChoice("camera", "/dev/video2").spec() == SourceSpec(SourceKind.CAMERA, "/dev/video2")
    assert SourceChoice("stream", "rtsp://cam/1").spec() == SourceSpec(SourceKind.STREAM, "rtsp://cam/1")
    for bad in (SourceChoice("camera", "front"), SourceChoice("stream", "cam1"), SourceChoice("folder", " ")):
        with pytest.raises(SourceError):
            bad.spec()
    assert SourceChoice("video", "/v.mp4", play_live=False).live is False
    assert SourceChoice("camera", "0").has_preview and not SourceChoice("folder", "/x").has_preview


def _result(index: int, verdict: str):
    from datetime import UTC, datetime

    from inspector.core.types import Verdict
    from inspector.pipeline import PartResult, PartStatus

    return PartResult(
        PartStatus.STORED,
        index,
        "folder:/x",
        f"/x/{index}.png",
        datetime.now(UTC),
        inspection_id=str(index),
        score=0.5,
        threshold=0.4,
        verdict=Verdict(verdict),
        image=np.zeros((4, 4, 3), np.uint8),
        anomaly_map=np.zeros((4, 4), np.float32),
    )


def test_live_feed_shows_the_newest_part_but_holds_flagged_ones():
    from inspector.ui.live_worker import LiveFeed

    feed = LiveFeed(flagged_hold_s=1.0)
    for i, verdict in enumerate(("pass", "fail", "pass", "pass")):  # one batch stored together
        feed.on_result(_result(i, verdict))
    shown, _ = feed.next_for_display(now=100.0)
    assert shown.index == 1  # the failed part, not the last pass of the batch
    assert feed.next_for_display(now=100.5) == (None, 0.5)  # held
    shown, _ = feed.next_for_display(now=101.1)
    assert shown.index == 3  # then the newest part
    assert feed.next_for_display(now=102.0)[0] is None
    feed.on_result(_result(4, "uncertain"))
    feed.on_result(_result(5, "fail"))
    assert feed.next_for_display(now=102.1)[0].index == 5  # the newest flagged part
    assert len(feed.points.drain()) == 6  # counters and trend get every result
