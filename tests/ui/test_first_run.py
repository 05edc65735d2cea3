"""First run without weights: the window explains what is missing and how to get it, never a traceback,
and never falls back to random weights."""

from __future__ import annotations

from inspector.core.recipe import Recipe, save_recipe
from inspector.core.registry import ModelSpec
from tests.ui.conftest import WAIT_MS, write_parts, write_reference


def test_missing_weights_on_first_run(qtbot, make_window, monkeypatch, tmp_path, settings):
    monkeypatch.delenv("INSPECTOR_MODELS_DIR", raising=False)  # the real registry
    monkeypatch.setenv("INSPECTOR_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setattr(ModelSpec, "cached_hub_weights", lambda self: None)  # an empty hub cache
    window = make_window(random_weights=False)
    assert "RANDOM" not in window.windowTitle() and not window.random_badge.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.weights_report is not None, timeout=WAIT_MS)
    panel = window.first_run
    assert panel.isVisibleTo(window)
    text = panel.text()
    for model in ("dinov2-small", "clip-vit-b-16-plus-240"):
        assert f"inspector models download {model}" in text
        assert f"inspector models import PATH --model {model}" in text
    assert "Recipes tab" in text and "Traceback" not in text

    # starting a run anyway: the same explanation, as a message, and nothing is scored
    ref = write_reference(tmp_path / "ref.png")
    write_parts(tmp_path / "parts", 2)
    settings.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = settings.recipes_dir / "screw.json"
    save_recipe(Recipe(name="screw", object_name="screw", detector="anomalydino", references=(str(ref),)), path)
    panel.hide()
    window._recipes_changed(str(path))
    window.live.set_source_choice("folder", str(tmp_path / "parts"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS) as finished:
        window.controller.start()
    assert finished.args[0] is None
    assert panel.isVisibleTo(window)
    assert "inspector models download dinov2-small" in panel.text()
    messages = window.live.messages.texts()
    assert any("weights" in m for m in messages) and all("Traceback" not in m for m in messages)
    assert window.live.counters["inspected"].value.text() == "0"

    # check again once weights were imported (here: the panel hides when nothing is missing)
    from inspector.ui.first_run import WeightsReport

    window._weights_checked(WeightsReport(("dinov2-small",), {}, True))
    assert not panel.isVisibleTo(window)
