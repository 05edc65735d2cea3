"""The Train panel: the good-part library from the station database, a training job, cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.core.recipe import load_recipe
from inspector.store import InspectionFilter, Verdict, open_store
from inspector.ui.train_panel import TrainPanel
from tests.ui.conftest import WAIT_MS


def _review_some(settings) -> None:
    with open_store(settings.database_path) as store:
        records = store.query(InspectionFilter(), limit=100)
        passed = [r for r in records if r.model_verdict == Verdict.PASS][:3]
        failed = [r for r in records if r.model_verdict != Verdict.PASS][:1]
        for r in passed:
            store.add_override(r.id, "ana", Verdict.PASS)
        for r in failed:
            store.add_override(r.id, "ben", Verdict.PASS)  # marked good
        assert len(passed) + len(failed) >= 3


def test_train_panel_shows_the_library_trains_and_can_remove_a_part(qtbot, tmp_path, settings, tiny_recipe, inspected):
    _review_some(settings)
    _recipe, path = tiny_recipe
    panel = TrainPanel(store_path=settings.database_path, random_weights=True, device="cpu")
    qtbot.addWidget(panel)
    panel.resize(720, 420)
    with qtbot.waitSignal(panel.library_loaded, timeout=WAIT_MS) as loaded:
        panel.set_recipe(path)
    n = loaded.args[0]
    assert n >= 4 and panel.parts.count() == n
    assert "reference" in panel.count.text() and ("reviewed pass" in panel.count.text())
    panel.grab().save(str(tmp_path / "train_panel_library.png"))

    panel.method.setCurrentIndex(panel.method.findData("memory"))
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS) as done:
        panel.start_training()
        assert panel.running and not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    new = load_recipe(done.args[0])
    assert new.detector == "memory" and new.training["random_weights"] is True
    assert "new recipe version" in panel.status.text()
    panel.grab().save(str(tmp_path / "train_panel_trained.png"))

    # an engineer removes a part: it is left out of the library from now on
    item = panel.parts.item(panel.parts.count() - 1)
    removed = item.data(Qt.ItemDataRole.UserRole)
    item.setSelected(True)
    with qtbot.waitSignal(panel.library_loaded, timeout=WAIT_MS) as again:
        panel.remove.click()
    assert again.args[0] == n - 1
    assert removed in load_recipe(path).library_excluded


def test_cancelled_training_writes_no_version(qtbot, tmp_path, settings, tiny_recipe, inspected):
    _recipe, path = tiny_recipe
    panel = TrainPanel(store_path=None, random_weights=True, device="cpu")
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.library_loaded, timeout=WAIT_MS):
        panel.set_recipe(path)
    panel.method.setCurrentIndex(panel.method.findData("simplenet"))
    before = sorted(p.name for p in path.parent.iterdir())
    panel.start_training()
    job = panel._job
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        panel.cancel()
    assert "no recipe version was written" in panel.status.text()
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_recipes_screen_trains_in_the_background_shows_the_gate_and_uses_the_version(
    make_window, qtbot, tmp_path, settings, tiny_recipe, inspected
):
    """The Train panel in the Recipes screen: progress while training, the before/after metrics and the
    gate when done, "Use this version" opens the trained recipe, and saving it keeps its training record."""
    _review_some(settings)
    _recipe, path = tiny_recipe
    window = make_window()
    editor = window.recipes
    window.tabs.setCurrentWidget(editor)
    window.resize(1280, 900)
    panel = editor.train_panel
    with qtbot.waitSignal(panel.library_loaded, timeout=WAIT_MS):
        editor.show_recipe(str(path))
    assert panel.recipe_path == path and panel.train_button.isEnabled()
    panel.gate_tolerance = 0.99  # the gate's decision is tested in tests/core; here: that it is shown and obeyed
    panel.method.setCurrentIndex(panel.method.findData("memory"))
    panel.start_training()
    job = panel._job
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: panel.progress.value() > 0 or not panel.running, timeout=WAIT_MS)
    editor.form_scroll.ensureWidgetVisible(panel)
    window.grab().save(str(tmp_path / "recipes_training.png"))
    assert not panel.use_button.isEnabled()
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS) as done:
        pass
    trained_path = done.args[0]
    outcome = panel.last_outcome
    assert outcome.gate is not None and outcome.gate.passed
    assert "Gate passed" in panel.gate_label.text() and "after training is not lower" in panel.gate_reasons.text()
    after = outcome.after.metrics.image_auroc
    assert panel.metrics_text().splitlines()[0].endswith(f"{100 * after:.1f}")
    assert any(trained_path == editor.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(editor.list.count()))
    editor.form_scroll.ensureWidgetVisible(panel)
    window.grab().save(str(tmp_path / "recipes_trained.png"))

    assert panel.use_button.isEnabled()
    panel.use_button.click()
    assert str(editor.path) == trained_path and editor.detector.currentData() == "memory"
    assert editor.save() is not None
    saved = load_recipe(trained_path)
    assert saved.detector == "memory" and saved.training["gate"]["passed"] is True
    assert saved.training == outcome.recipe.training  # the form keeps the training record


def test_a_version_that_fails_the_gate_is_not_offered(qtbot, tmp_path, settings, tiny_recipe, inspected):
    _recipe, path = tiny_recipe  # no database: the single reference trains, nothing is held out to measure
    panel = TrainPanel(store_path=None, random_weights=True, device="cpu")
    qtbot.addWidget(panel)
    panel.resize(720, 480)
    with qtbot.waitSignal(panel.library_loaded, timeout=WAIT_MS):
        panel.set_recipe(path)
    panel.method.setCurrentIndex(panel.method.findData("memory"))
    adopted = []
    panel.adopted.connect(adopted.append)
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS):
        panel.start_training()
    assert panel.last_outcome.gate is not None and not panel.last_outcome.gate.passed
    assert "NOT passed" in panel.gate_label.text() and "not measured" in panel.gate_reasons.text()
    assert panel.metrics_text().splitlines()[0] == "I-AUROC — —"
    assert not panel.use_button.isEnabled()
    panel._adopt()  # even when asked directly
    assert adopted == []
    panel.grab().save(str(tmp_path / "train_panel_gate_failed.png"))
