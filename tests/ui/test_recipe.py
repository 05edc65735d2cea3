"""Recipe set-up: prompt preview, references by drag-and-drop, calibration with its histogram, versions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from inspector.core.recipe import load_recipe
from inspector.store import open_store
from tests.ui.conftest import WAIT_MS, texture, write_parts


def _drop(widget, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    widget.dropEvent(event)
    assert event.isAccepted()


def test_calibrate_a_recipe_and_every_inspection_names_its_version(qtbot, make_window, tiny_recipe, tmp_path, settings):
    _recipe, path = tiny_recipe
    window = make_window()
    editor = window.recipes
    window.tabs.setCurrentWidget(editor)
    editor.list.setCurrentRow(0)
    assert editor.name.text() == "bracket" and editor.references.count() == 1

    # prompt ensemble preview, no model involved
    editor.object_name.setText("bracket")
    editor.extra_anomalous.setPlainText("{} with a burr")
    qtbot.waitUntil(lambda: "a photo of a bracket with a burr." in editor.preview.toPlainText(), timeout=WAIT_MS)
    assert "154 normal and 110 anomalous prompts" in editor.preview_count.text()  # 4 anomalous states (paper)

    # good references dropped from the file manager: files and a folder
    refs = tmp_path / "more-refs"
    refs.mkdir()
    rng = np.random.default_rng(7)
    for i in range(3):  # the same surface, each with its own small noise: good parts that differ a little
        noisy = texture(80, 96, seed=0).astype(np.int16) + rng.integers(-12, 13, (80, 96, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(refs / f"good_{i}.png")
    (refs / "notes.txt").write_text("not an image")
    _drop(editor.references, [refs])
    assert editor.references.count() == 4

    # calibrate: leave-one-out over the 4 references, histogram with the threshold and the band
    dialog = editor.calibrate()
    with qtbot.waitSignal(dialog.calibrated, timeout=WAIT_MS):
        pass
    assert len(dialog.scores) == 4 and int(dialog.histogram.counts.sum()) == 4
    calibration = dialog.calibration
    assert dialog.histogram.line.isVisible() and dialog.histogram.line.value() == pytest.approx(calibration.threshold)
    assert calibration.uncertain_band is not None and dialog.histogram.band.isVisible()
    assert "RANDOM WEIGHTS" in dialog.status.text()
    dialog.margin.setValue(3.0)  # re-does only the arithmetic
    assert dialog.calibration.threshold > calibration.threshold
    threshold = dialog.calibration.threshold
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert editor.recipe().threshold == threshold  # exact, not rounded by the spin box
    assert editor.recipe().calibration["good_scores"] == dialog.scores

    # save: the file, then version 1 in the database; a change makes version 2
    with qtbot.waitSignal(window.station.ops.changed, timeout=WAIT_MS):
        assert editor.save() == path
    saved = load_recipe(path)
    assert saved.threshold == threshold and len(saved.references) == 4
    assert saved.extra_anomalous == ("{} with a burr",)
    editor.defects.setText("burr, dent")
    with qtbot.waitSignal(window.station.ops.changed, timeout=WAIT_MS):
        editor.save()
    qtbot.waitUntil(lambda: "latest v2" in editor.versions.text(), timeout=WAIT_MS)

    # a run with it: every inspection names the version it used
    write_parts(tmp_path / "parts", 3)
    window._recipes_changed(str(path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        window.controller.start()
    with open_store(settings.database_path) as store:
        versions = store.recipe_versions("bracket")
        assert [v.version for v in versions] == [1, 2]
        assert {(r.recipe_name, r.recipe_version) for r in store.query()} == {("bracket", 2)}
        assert versions[-1].body["defect_classes"] == ["burr", "dent"]


def test_a_new_recipe_needs_a_name_and_reports_problems_as_messages(qtbot, make_window, tiny_registry):
    window = make_window()
    editor = window.recipes
    editor.new_recipe()
    editor.name.setText("")
    assert editor.save() is None
    assert any("name" in text for text in editor.messages.texts())
    editor.name.setText("tile")
    editor.use_band.setChecked(True)
    editor.threshold.setValue(0.5)
    editor.band_low.setValue(0.6)
    editor.band_high.setValue(0.7)
    assert editor.save() is None  # the band must contain the threshold
    assert any("band" in text for text in editor.messages.texts())
