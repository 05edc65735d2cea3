"""Caption corrections in the review detail, and the Recipes screen's caption-training panel."""

from __future__ import annotations

import json

from inspector.core.recipe import load_recipe
from inspector.store import CaptionStatus, InspectionFilter, open_store
from inspector.ui.caption_training_panel import CaptionTrainingPanel
from tests.ui.conftest import WAIT_MS


def test_an_operator_corrects_a_caption_in_the_review_detail(qtbot, make_window, inspected, settings, tmp_path):
    with open_store(settings.database_path) as store:
        parts = store.query(InspectionFilter(), limit=100)
        for r in parts:
            store.set_caption(r.id, status=CaptionStatus.DONE, caption="Bracket with a hole.")
    window = make_window(operator="ana")
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.model.rowCount() > 0 and review.detail.data is not None, timeout=WAIT_MS)
    editor = review.detail.caption_editor
    part = review.detail.data.record.id
    assert editor.text.text() == "Bracket with a hole." and not editor.save.isEnabled()
    assert "From the captioner" in editor.origin.text()

    editor.text.setFocus()
    editor.text.clear()
    qtbot.keyClicks(editor.text, "Pitting on the third thread")  # P / F / U stay text while typing here
    assert editor.save.isEnabled()
    editor.save.click()
    qtbot.waitUntil(lambda: "Corrected by ana" in editor.origin.text(), timeout=WAIT_MS)
    assert review.detail.fields["Caption"].text() == "Pitting on the third thread"
    assert "the captioner said: Bracket with a hole." in editor.origin.text()
    qtbot.waitUntil(lambda: any("ana: caption “Pitting" in t for t in review.detail.history_texts()), timeout=WAIT_MS)
    with open_store(settings.database_path) as store:
        (correction,) = store.caption_corrections(part)
        assert (correction.operator, correction.caption) == ("ana", "Pitting on the third thread")
        assert store.history(part) == []  # a caption correction is not a verdict decision
        assert store.verify_audit().ok
    window.grab().save(str(tmp_path / "review_caption_correction.png"))


def _corrected_parts(settings, n=5):
    words = ("pitting near the edge", "rust on the surface", "a dent", "a scratch", "a crack")
    with open_store(settings.database_path) as store:
        parts = [r for r in store.query(InspectionFilter(), limit=100) if r.image_artifact][:n]
        for i, r in enumerate(parts):
            store.set_caption(r.id, status=CaptionStatus.DONE, caption="Bracket with a hole.")
            store.correct_caption(r.id, "ana", f"Bracket with {words[i % len(words)]}.")
    return parts


def _panel(qtbot, settings, tiny_recipe, tmp_path, monkeypatch):
    from inspector.core.registry import import_weights
    from tests.captioning.test_lora import TINY_BLIP, _tiny_blip_weights

    registry = tmp_path / "caption-registry"
    registry.mkdir()
    body = {k: v for k, v in TINY_BLIP.items() if k != "config"}
    body["id"] = "station-blip"
    (registry / "station-blip.json").write_text(json.dumps(body))
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(registry))
    _tiny_blip_weights(tmp_path / "blip")
    import_weights(tmp_path / "blip", "station-blip", folder=registry)
    panel = CaptionTrainingPanel(store_path=settings.database_path, device="cpu")
    panel.captioner.addItem("station-blip")
    panel.captioner.setCurrentText("station-blip")
    panel.out_dir = tmp_path / "captioners"
    qtbot.addWidget(panel)
    panel.resize(760, 260)
    _recipe, path = tiny_recipe
    qtbot.waitUntil(lambda: True)
    panel.set_recipe(path)
    qtbot.waitUntil(lambda: panel.corrected == 5, timeout=WAIT_MS)
    return panel


def test_the_caption_panel_trains_a_version_shows_its_scores_and_can_cancel(
    qtbot, settings, tiny_recipe, inspected, tmp_path, monkeypatch
):
    from dataclasses import replace

    from inspector.captioning.lora import DEFAULTS

    _corrected_parts(settings)
    panel = _panel(qtbot, settings, tiny_recipe, tmp_path, monkeypatch)
    assert "5 parts of 'bracket' have an operator-corrected caption" in panel.count.text()
    assert "station's captioner" in panel.current.text()
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()

    panel.options = replace(DEFAULTS, epochs=2, holdout=0.2, learning_rate=3e-2)
    with qtbot.waitSignal(panel.trained, timeout=WAIT_MS * 3) as done:
        panel.start_training()
        assert panel.running and panel.cancel_button.isEnabled() and not panel.train_button.isEnabled()
    folder = done.args[0]
    assert (
        json.loads((tmp_path / "captioners" / folder.rsplit("/", 1)[-1] / "captioner.json").read_text())["base_model"]
        == "station-blip"
    )
    assert "Captioner version station-blip-lora-" in panel.status.text()
    assert panel.cells[("before", "cider")].text() != "—" and panel.cells[("after", "bleu4")].text() != "—"
    assert panel.select_button.isEnabled()

    class Editor:  # what the Recipes screen offers the panel: the loaded recipe and a message bar
        def __init__(self):
            self.loaded = load_recipe(tiny_recipe[1])
            self.messages = type("Bar", (), {"show_message": lambda _self, text, kind: None})()

    editor = Editor()
    panel._select_in(editor, folder)
    assert editor.loaded.captioner_version == folder
    assert "Captions with the trained version station-blip-lora-" in panel.current.text()
    panel.grab().save(str(tmp_path / "caption_training_panel.png"))

    # cancelled: nothing is written
    before = sorted(p.name for p in (tmp_path / "captioners").iterdir())
    panel.options = replace(DEFAULTS, epochs=50, holdout=0.0)
    panel.start_training()
    job = panel._job
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS * 3):
        panel.cancel()
    assert "no captioner version was written" in panel.status.text()
    assert sorted(p.name for p in (tmp_path / "captioners").iterdir()) == before
