"""Recipe editor fixes from the operator trial (#13): it opens on a real recipe with its own history,
refuses a model the detector cannot use, never switches the live recipe by saving, keeps its status
lines true, and its reference list takes drops on its viewport (where a file manager drops)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from inspector.core.recipe import Recipe, save_recipe
from inspector.pipeline import RecipeSaved
from tests.helpers import write_reference
from tests.ui.conftest import WAIT_MS


def test_the_editor_opens_on_the_live_recipe_with_its_own_history(qtbot, make_window, tiny_recipe, settings):
    recipe, path = tiny_recipe
    window = make_window()
    editor = window.recipes
    assert window.live.recipe_path() == str(path)
    assert editor.name.text() == "bracket" and editor.path == path  # not a blank "new recipe"
    assert editor.list.currentItem() is not None and editor.list.currentItem().data(Qt.ItemDataRole.UserRole) == str(
        path
    )
    qtbot.waitUntil(lambda: "Not in the database yet" in editor.versions.text(), timeout=WAIT_MS)
    with qtbot.waitSignal(window.station.ops.changed, timeout=WAIT_MS):
        window.station.ops.run(lambda s: s.save_recipe_version("another", {"n": 1}), notify=RecipeSaved("another"))
    late = window.station.store.recipe_versions("another")
    editor._versions_loaded("another", late)  # an answer about another recipe, arriving late …
    assert "Not in the database yet" in editor.versions.text()  # … is not shown for this one


def test_status_lines_follow_references_and_held_out_images(qtbot, make_window, tiny_recipe, tmp_path):
    window = make_window()
    editor = window.recipes
    assert editor.model_status.text() == "Few-shot with 1 good reference."
    editor.references.add_paths([write_reference(tmp_path / f"more_{i}.png") for i in range(3)])
    assert editor.model_status.text() == "Few-shot with 4 good references."
    assert editor.held_count.text() == "0 held-out images"
    editor.held_out.add_paths([write_reference(tmp_path / f"held_{i}.png") for i in range(2)])
    assert editor.held_count.text() == "2 held-out images"
    editor.references.selectAll()
    editor.references.remove_selected()
    assert editor.model_status.text() == "Needs good reference images."


def test_a_model_the_detector_cannot_use_is_refused_and_saving_never_switches_live(
    qtbot, make_window, tiny_recipe, settings, tmp_path
):
    recipe, live_path = tiny_recipe
    wrong = settings.recipes_dir / "wrong.json"
    save_recipe(Recipe(name="wrong", object_name="tile", detector="winclip", model="tiny-dino"), wrong)
    window = make_window()
    editor = window.recipes
    qtbot.waitUntil(lambda: bool(editor._models), timeout=WAIT_MS)  # the registry was read
    assert window.live.recipe_path() == str(live_path)
    assert editor.open_path(wrong)
    assert "does not fit" in editor.model.currentText()
    assert "needs a CLIP model" in editor.model_status.text()
    before = wrong.read_text()
    assert editor.save() is None
    assert any("Not saved" in text and "CLIP" in text for text in editor.messages.texts())
    assert wrong.read_text() == before and json.loads(before)["model"] == "tiny-dino"

    # switching the detector picks a model it can use; saving keeps the live screen's choice
    editor.detector.setCurrentIndex(editor.detector.findData("anomalydino"))
    assert editor.model.currentData() == "tiny-dino" and "does not fit" not in editor.model.currentText()
    editor.name.setText("tile")
    editor.references.add_paths([write_reference(tmp_path / "tile_ref.png")])
    with qtbot.waitSignal(window.station.ops.changed, timeout=WAIT_MS):
        saved = editor.save()
    assert saved is not None and saved.exists()
    assert window.live.recipe_path() == str(live_path)  # saving never makes it the live recipe
    assert str(saved) in [window.live.recipe.itemData(i) for i in range(window.live.recipe.count())]


# PySide6 marks QDragEnterEvent's only constructor (QPoint) deprecated; Qt 6 has no other one
@pytest.mark.filterwarnings("ignore:Function. 'QDragEnterEvent.QDragEnterEvent:DeprecationWarning")
def test_the_reference_list_viewport_takes_dropped_files(qtbot, make_window, tiny_recipe, tmp_path):
    window = make_window()
    window.tabs.setCurrentWidget(window.recipes)
    refs = window.recipes.references
    viewport = refs.viewport()
    assert viewport.acceptDrops()  # Qt only delivers a real drop to a widget that accepts drops
    files = [write_reference(tmp_path / f"drop_{i}.png") for i in range(2)]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files])
    at = QPointF(viewport.rect().center())
    enter = QDragEnterEvent(
        at.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    drop = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted() and refs.count() == 3
