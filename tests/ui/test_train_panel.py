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
