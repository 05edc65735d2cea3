"""The Recipes screen's recalibration panel: figures from the store off the GUI thread, Apply = new version."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np

from inspector.core.recipe import Recipe, load_recipe, save_recipe
from inspector.store import NewInspection, Verdict, open_store
from tests.ui.conftest import WAIT_MS


def _reviewed_store(settings, recipe_path, good, bad):
    recipe = load_recipe(recipe_path)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        version = store.save_recipe_version(recipe.name, recipe.to_dict())
        items = [
            NewInspection(
                content_hash=hashlib.sha256(f"p{i}".encode()).hexdigest(),
                recipe_version_id=version.id,
                score=float(s),
                threshold=recipe.threshold,
                verdict=recipe.verdict(float(s)),
                detector="winclip",
                model_id="clip",
                inspected_at=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=i),
            )
            for i, s in enumerate(list(good) + list(bad))
        ]
        ids = store.add_inspections(items).ids
        for i, part in enumerate(ids):
            store.add_override(part, "ana", Verdict.PASS if i < len(good) else Verdict.FAIL)


def test_panel_shows_the_reviewed_parts_and_applies_a_new_version(qtbot, make_window, settings):
    settings.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = settings.recipes_dir / "tile.json"
    save_recipe(Recipe(name="tile", object_name="tile", detector="winclip", threshold=0.55), path)
    good, bad = np.linspace(0.0, 0.5, 300), np.linspace(0.45, 1.0, 30)
    _reviewed_store(settings, path, good, bad)
    window = make_window(operator="ana")
    window.tabs.setCurrentWidget(window.recipes)
    panel = window.recipes.recalibration
    window.recipes.show_recipe(str(path))
    # the default target (escape 0.1 %) is refused with 30 reviewed defects: no Apply
    qtbot.waitUntil(lambda: panel.result is not None and bool(panel.result.reviews.labels), timeout=WAIT_MS)
    assert panel.result.proposal is None and "2,965 more reviewed defective parts" in panel.text.text()
    assert not panel.apply_button.isEnabled()
    assert "300 reviewed good and 30 reviewed defective" in panel.text.text()
    panel.target_kind.setCurrentIndex(panel.target_kind.findData("false_reject"))
    panel.target.setValue(1.0)
    with qtbot.waitSignal(panel.computed, timeout=WAIT_MS):
        panel.compute()
    assert panel.result.proposal is not None and panel.apply_button.isEnabled()
    assert panel.result.stats.roc is not None and len(panel.roc.getPlotItem().listDataItems()) >= 3
    with qtbot.waitSignal(window.recipes.recipes_changed, timeout=WAIT_MS):
        panel.apply_button.click()
    saved = load_recipe(path)
    assert saved.threshold == float(np.nextafter(0.5, 1.0)) and saved.calibration["from_reviews"]["n_good"] == 300
    with open_store(settings.database_path) as store:
        assert [v.version for v in store.recipe_versions("tile")] == [1, 2]
    assert window.recipes.threshold.value() == round(saved.threshold, 5)
