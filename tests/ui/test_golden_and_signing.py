"""The window's signature dialog (#10) and golden-part panel (#16 point 3): a recipe saved on a PIN
station needs an engineer's PIN (an operator is refused, a wrong PIN counts), golden parts are checked
on demand, and a wrong golden verdict refuses Start with a clear message."""

from __future__ import annotations

import json
import os
from pathlib import Path

from inspector.core.recipe import load_recipe
from inspector.store import open_store
from inspector.store.changes import Signer, record_recipe_change
from inspector.ui.login import LoginDialog
from tests.ui.conftest import WAIT_MS, write_parts

ADMIN_PIN, ENG_PIN, OP_PIN = "482913", "739164", "615208"
SHOTS = Path(os.environ.get("INSPECTOR_SHOTS", "")) if os.environ.get("INSPECTOR_SHOTS") else None


def _shot(widget, name: str) -> None:
    if SHOTS is not None:  # INSPECTOR_SHOTS=folder: the pictures looked at for the README
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()  # the layout takes the new texts in first
        SHOTS.mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(SHOTS / name))


def test_saving_a_recipe_on_a_pin_station_needs_an_engineers_signature(
    qtbot, make_window, tiny_recipe, settings, monkeypatch
):
    _recipe, path = tiny_recipe
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        accounts = store.accounts
        accounts.add_operator("ada", role="admin", pin=ADMIN_PIN)
        accounts.set_policy(require_pin=True, roles=True, by="ada", pin=ADMIN_PIN)
        accounts.add_operator("eve", role="engineer", pin=ENG_PIN, by="ada", by_pin=ADMIN_PIN)
        accounts.add_operator("olf", role="operator", pin=OP_PIN, by="ada", by_pin=ADMIN_PIN)
        record_recipe_change(store, "bracket", load_recipe(path).to_dict(), Signer("eve", ENG_PIN))  # v1

    class Answer(LoginDialog):  # olf logs in at the station
        def exec(self):
            self.pin.setText(OP_PIN)
            self._submit = None
            self._try_accept()
            return self.result()

    monkeypatch.setattr("inspector.ui.main_window.LoginDialog", Answer)
    monkeypatch.delenv("INSPECTOR_PIN", raising=False)
    window = make_window(operator="olf")
    qtbot.waitUntil(lambda: window.station.operator == "olf" and window.station.settings.require_pin, timeout=WAIT_MS)
    editor = window.recipes
    window.tabs.setCurrentWidget(editor)
    editor.list.setCurrentRow(0)
    qtbot.waitUntil(lambda: editor.name.text() == "bracket", timeout=WAIT_MS)
    before = path.read_text()
    editor.use_band.setChecked(False)
    editor.threshold.setValue(0.2)
    assert editor.save() == path
    qtbot.waitUntil(lambda: getattr(editor, "sign_dialog", None) is not None, timeout=WAIT_MS)
    dialog = editor.sign_dialog
    assert dialog.name.currentText() == "olf" and "threshold 0.05 -> 0.2" in dialog.changes.text()
    _shot(dialog, "sign_dialog.png")

    dialog.pin.setText(OP_PIN)  # the operator who is logged in: not allowed
    dialog.sign()
    qtbot.waitUntil(lambda: "may not change" in dialog.error.text(), timeout=WAIT_MS)
    assert "olf (operator)" in dialog.error.text() and "engineer role" in dialog.error.text()
    assert dialog.isVisible() and path.read_text() == before

    dialog.name.setEditText("eve")
    dialog.pin.setText("000000")
    dialog.sign()
    qtbot.waitUntil(lambda: "Wrong PIN for eve" in dialog.error.text(), timeout=WAIT_MS)
    _shot(dialog, "sign_dialog_refused.png")
    with open_store(settings.database_path) as store:
        assert store.accounts.get("eve").failed_logins == 1
        assert len(store.recipe_versions("bracket")) == 1

    dialog.pin.setText(ENG_PIN)
    dialog.reason.setText("lot 17")
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        dialog.sign()
    qtbot.waitUntil(lambda: json.loads(path.read_text())["threshold"] == 0.2, timeout=WAIT_MS)
    with open_store(settings.database_path) as store:
        _first, version = store.recipe_versions("bracket")
        (signature,) = store.accounts.signatures(version.id)
        assert version.signature_id == signature.id and signature.operator == "eve"
        assert signature.role == "engineer" and signature.reason == "lot 17"
        assert "threshold 0.05 -> 0.2" in signature.changes
        assert store.verify_audit().ok
    qtbot.waitUntil(lambda: any("signed by eve" in t for t in editor.messages.texts()), timeout=WAIT_MS)


def test_golden_parts_in_the_recipes_screen_and_a_refused_start(qtbot, make_window, tiny_recipe, settings, tmp_path):
    recipe, path = tiny_recipe
    window = make_window()
    editor = window.recipes
    window.tabs.setCurrentWidget(editor)
    editor.list.setCurrentRow(0)
    qtbot.waitUntil(lambda: editor.golden.name == "bracket", timeout=WAIT_MS)
    panel = editor.golden
    ref = Path(recipe.references[0])
    panel.add_files([ref], "defective")  # deliberately wrong: the good reference as a known defect
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=WAIT_MS)
    assert panel.table.item(0, 0).text() == ref.name and panel.table.item(0, 1).text() == "defective"

    job = panel.check()
    assert job is not None
    qtbot.waitUntil(lambda: panel.job is None and panel.outcome is not None, timeout=WAIT_MS)
    assert not panel.outcome.passed and "FAILED" in panel.status.text()
    assert any(f"{ref.name}: expected defective (fail), got PASS" in t for t in editor.messages.texts())
    _shot(panel, "golden_panel.png")
    editor.form_scroll.ensureWidgetVisible(panel)
    _shot(window, "recipes_golden.png")

    # Start is refused by the same check, with the same message, and no run is written
    write_parts(tmp_path / "parts", 2)
    window._recipes_changed(str(path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        assert window.controller.start()
    texts = window.live.messages.texts()
    assert any("Golden-part check FAILED" in t and "The run was not started" in t for t in texts), texts
    with open_store(settings.database_path) as store:
        assert store.runs() == []
        assert [c.trigger for c in store.golden.checks("bracket")] == ["run-start", "on-demand"]

    # warn: the policy chosen in the panel is saved with the recipe, and the run starts
    panel.policy.setCurrentIndex(panel.policy.findData("warn"))
    with qtbot.waitSignal(window.station.ops.changed, timeout=WAIT_MS):
        editor.save()
    assert load_recipe(path).golden_policy == "warn"
    window._recipes_changed(str(path))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        assert window.controller.start()
    with open_store(settings.database_path) as store:
        assert len(store.runs()) == 1
