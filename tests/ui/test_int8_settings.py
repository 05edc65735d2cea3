"""The window's backend and INT8 choice: settings, the dialog, ``inspector gui --dtype``, and the INT8
check's outcome in the Live message area (a real run on the tiny DINOv2 through OpenVINO)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from inspector.ui.settings import SettingsDialog, StationSettings, load_settings, save_settings
from inspector.ui.station import Station
from inspector.ui.theme import apply_theme
from tests.ui.conftest import WAIT_MS, write_parts


def test_backend_and_int8_round_trip_through_the_file_the_dialog_and_the_session(qtbot, tmp_path):
    path = tmp_path / "s.json"
    settings = StationSettings(device="cpu", dtype="int8", backend="openvino")
    save_settings(settings, path)
    assert load_settings(path) == settings
    assert StationSettings().backend == "auto"  # as `inspector run`

    dialog = SettingsDialog(StationSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.save_button.isEnabled() and not dialog.runtime_note.isVisible()
    dialog.dtype.setCurrentText("int8")
    assert dialog.save_button.isEnabled() and "held-out good parts" in dialog.runtime_note.text()
    assert dialog.runtime_note.isVisible()
    dialog.backend.setCurrentText("torch")  # INT8 has no torch path: cannot be saved
    assert not dialog.save_button.isEnabled() and "INT8 runs on OpenVINO" in dialog.runtime_note.text()
    shots = Path(os.environ.get("INSPECTOR_SCREENSHOTS_DIR") or tmp_path)
    apply_theme(QApplication.instance(), "light")
    QApplication.processEvents()  # the note's layout
    assert dialog.grab().save(str(shots / "settings-int8-torch.png"))
    dialog.backend.setCurrentText("openvino")
    dialog.device.setCurrentText("cuda")  # nor on a GPU
    assert not dialog.save_button.isEnabled() and "runs on the CPU" in dialog.runtime_note.text()
    dialog.device.setCurrentText("cpu")
    assert dialog.save_button.isEnabled()
    QApplication.processEvents()
    assert dialog.grab().save(str(shots / "settings-int8.png"))
    chosen = dialog.result_settings()
    assert (chosen.device, chosen.dtype, chosen.backend) == ("cpu", "int8", "openvino")

    config = Station(chosen, operator="ana", random_weights=False, tasks=None).session_config()  # type: ignore[arg-type]
    assert (config.device, config.dtype, config.backend) == ("cpu", "int8", "openvino")


def test_gui_command_line_overrides_precision_and_backend():
    from inspector.ui.app import build_parser

    args = build_parser().parse_args(["--dtype", "int8", "--backend", "openvino"])
    assert (args.dtype, args.backend) == ("int8", "openvino")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--backend", "tensorrt"])


def test_an_int8_run_without_held_out_parts_says_so_in_the_live_messages(
    qtbot, make_window, settings, tiny_recipe, tmp_path
):
    pytest.importorskip("openvino")
    _, recipe_path = tiny_recipe  # no calibration images, nothing reviewed yet
    write_parts(tmp_path / "parts", 3)
    window = make_window(settings=replace(settings, device="cpu", dtype="int8", backend="openvino"))
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(window.live.start, Qt.MouseButton.LeftButton)
    assert finished.args[0].inspected == 3
    qtbot.waitUntil(
        lambda: any("INT8 needs held-out good parts" in t for t in window.live.messages.texts()), timeout=WAIT_MS
    )
    assert window.device_label.text() == "Device: cpu/openvino float32"
    shots = Path(os.environ.get("INSPECTOR_SCREENSHOTS_DIR") or tmp_path)
    assert window.grab().save(str(shots / "live-int8-no-held-out.png"))


def test_changing_precision_in_settings_applies_to_the_next_run(qtbot, make_window, settings, monkeypatch):
    window = make_window(settings=replace(settings, device="cpu", dtype="float32", backend="torch"))
    chosen = replace(window.station.settings, dtype="int8", backend="openvino")
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: True)  # the Save click
    monkeypatch.setattr(SettingsDialog, "result_settings", lambda self: chosen)
    window.edit_settings()
    config = window.station.session.config
    assert (config.device, config.dtype, config.backend) == ("cpu", "int8", "openvino")
    assert any("precision int8, backend openvino: used from the next run" in t for t in window.live.messages.texts())
    assert load_settings().dtype == "int8"  # and remembered
