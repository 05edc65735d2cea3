"""The export dialog: report and dataset exports run on a worker thread; errors show in the dialog."""

from __future__ import annotations

import csv
import json
import threading

from PySide6.QtCore import Qt

import inspector.reports.export as export_module
from tests.ui.conftest import WAIT_MS


def _open_dialog(qtbot, window):
    window.open_export()
    dialog = window.export_dialog
    qtbot.waitUntil(lambda: dialog.recipe.count() > 1, timeout=WAIT_MS)  # recipe names read off the GUI thread
    assert dialog.isVisible() and not dialog.isModal()
    return dialog


def _export(qtbot, dialog):
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.running and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)


def test_report_export_writes_pdf_and_csv(qtbot, make_window, inspected, tmp_path, monkeypatch):
    window = make_window()
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text().startswith("Export"))
    assert action.shortcut().toString() == "Ctrl+E"
    dialog = _open_dialog(qtbot, window)
    assert dialog.recipe.findText("bracket") > 0
    dialog.recipe.setCurrentText("bracket")
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.set_formats("pdf", "csv")
    dialog.resize(620, dialog.sizeHint().height())
    dialog.grab().save("/tmp/export_dialog.png")

    main_thread = threading.current_thread()
    seen = []
    real = export_module.export_report

    def spy(*args, **kwargs):
        seen.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "export_report", spy)
    _export(qtbot, dialog)
    assert seen and seen[0] is not main_thread  # the GUI thread never does the export
    files = {p.suffix: p for p in dialog.done_files}
    assert set(files) == {".pdf", ".csv"}, dialog.status.text()
    assert all(p.is_file() and p.stat().st_size > 0 for p in files.values())
    assert files[".pdf"].read_bytes().startswith(b"%PDF")
    with open(files[".csv"], encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == inspected.inspected == 9
    assert str(files[".pdf"]) in dialog.status.text()
    assert dialog.export_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_dataset_export_writes_mvtec_layout(qtbot, make_window, inspected, tmp_path):
    window = make_window()
    dialog = _open_dialog(qtbot, window)
    dialog.kind_dataset.setChecked(True)
    assert dialog.dataset_options.isEnabled() and not dialog.report_options.isEnabled()
    dialog.uncertain.setCurrentIndex(dialog.uncertain.findData("aside"))
    dialog.folder.setText(str(tmp_path / "datasets"))
    dialog.include_unreviewed.setChecked(True)  # nobody reviewed the fixture's parts
    dialog.overlays.setChecked(True)
    _export(qtbot, dialog)
    root, manifest = dialog.done_files
    assert root.is_dir() and root.parent == tmp_path / "datasets", dialog.status.text()
    assert manifest.is_file() and manifest.name == "manifest.csv"
    layout = {p.relative_to(root).as_posix() for p in root.glob("*/*/*") if p.is_dir()}
    assert any(p.endswith(("train/good", "test/good")) for p in layout), layout
    with open(manifest, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9
    summary = json.loads((root / "export.json").read_text(encoding="utf-8"))
    assert summary["options"]["overlays"] is True  # random weights here: no maps, so no overlays either
    assert summary["overlays"] == len(list(root.glob("overlays/**/*.png"))) == 0


def test_output_path_that_is_a_file_shows_an_error(qtbot, make_window, inspected, tmp_path):
    window = make_window()
    dialog = _open_dialog(qtbot, window)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    dialog.folder.setText(str(blocker))
    dialog.set_formats("csv")
    _export(qtbot, dialog)
    assert dialog.done_files == []
    text = dialog.status.text()
    assert str(blocker) in text and "Traceback" not in text
    assert dialog.isVisible() and dialog.export_button.isEnabled()
