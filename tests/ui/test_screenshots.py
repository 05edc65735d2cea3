"""Screenshots of the real window on the shared datasets (BSData ball screws, magnetic tiles).

The models are the real DINOv2-small architecture with RANDOM WEIGHTS (no weights on this machine):
the screens are real, the scores and heatmaps are not meaningful, and the window says so.

By default the PNGs go to a temporary folder and are only checked for being real pictures; set
``INSPECTOR_SCREENSHOTS_DIR=resources/screenshots`` to refresh the README's screenshots.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from inspector.core.recipe import Recipe, save_recipe
from inspector.ui.settings import StationSettings
from inspector.ui.theme import apply_theme
from tests.conftest import shared_dataset
from tests.ui.conftest import WAIT_MS

SIZE = (1280, 800)  # a common line-side monitor
OPERATOR_SIZE = (1920, 1080)  # the operator view on a 1080p panel


def _link_parts(folder: Path, groups: list[tuple[str, list[Path]]]) -> None:
    """Parts interleaved from several groups, named so the last one shown is the last of the first group."""
    folder.mkdir(parents=True)
    order = 0
    longest = max(len(files) for _, files in groups)
    for i in range(longest):
        for tag, files in reversed(groups):
            if i < len(files):
                (folder / f"{order:03d}_{tag}_{files[i].name}").symlink_to(files[i])
                order += 1


def _save(widget, out: Path, name: str, size: tuple[int, int] | None = None) -> Path:
    """Grab ``widget`` into ``out/name``; ``size``: the size the picture must have (else the window's
    minimum would have widened it past the screen it is shown for)."""
    path = out / name
    if size is not None:
        assert widget.size().toTuple() == size, (name, widget.size().toTuple())
    assert widget.grab().save(str(path))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    assert pixels.shape[0] > 300 and pixels.std() > 10, f"{name} looks blank"
    return path


def _run(qtbot, window, recipe_path: Path, parts: Path, out: Path, name: str, operator_view: str = "") -> None:
    """Run the folder and take the screenshot while the newest flagged part is on screen (mid-run, as an
    operator sees it); the last part when nothing was flagged. ``operator_view``: also a shot of the
    full-screen operator view (at 1920x1080) with the same part."""
    window._recipes_changed(str(recipe_path))
    window.live.set_source_choice("folder", str(parts))
    window.live.lot.setText("L-2291")
    live, shot = window.live, None
    view = None
    if operator_view:
        window.toggle_operator_view()  # full screen on the station's monitor; here a 1920x1080 panel
        view = window.operator_view
        # the platform's full-screen geometry arrives later: wait for it first, or it lands after the
        # resize below and the shot comes out at the offscreen screen's size (it did: 800x800)
        qtbot.waitUntil(lambda: view.size() == view.screen().geometry().size(), timeout=WAIT_MS)
        view.hide()
        view.setWindowState(Qt.WindowState.WindowNoState)
        view.resize(*OPERATOR_SIZE)
        view.show()
        qtbot.waitUntil(lambda: view.size().toTuple() == OPERATOR_SIZE, timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS * 10) as finished:
        window.controller.start()
        while window.controller.running:
            qtbot.wait(25)
            part = live.overlay.part
            if part is not None and part.verdict in ("fail", "uncertain") and part.inspection_id != shot:
                qtbot.wait(60)  # counters and trend of this tick
                shot = part.inspection_id
                _save(window, out, name, SIZE)
                if view is not None:
                    _save(view, out, operator_view, OPERATOR_SIZE)
    assert finished.args[0] is not None and finished.args[0].error is None
    if shot is None:
        qtbot.wait(200)
        _save(window, out, name, SIZE)
        if view is not None:
            _save(view, out, operator_view, OPERATOR_SIZE)
    if view is not None:
        view.close()


@pytest.fixture
def out_dir(tmp_path) -> Path:
    target = os.environ.get("INSPECTOR_SCREENSHOTS_DIR")
    folder = Path(target).resolve() if target else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshots_of_the_real_window(qtbot, make_window, tmp_path, out_dir, monkeypatch):
    ball = shared_dataset("bsdata/ball_screw")
    tile = shared_dataset("magnetic_tile/magnetic_tile")
    monkeypatch.delenv("INSPECTOR_MODELS_DIR", raising=False)  # the real registry: dinov2-small
    app = QApplication.instance()
    apply_theme(app, "light")
    try:
        # -- ball screws: recipe and calibration, live, review -------------------------------------------
        settings = StationSettings(data_folder=str(tmp_path / "station"))
        settings.recipes_dir.mkdir(parents=True)
        good = sorted((ball / "train" / "good").glob("*.jpg"))
        held = sorted((ball / "test" / "good").glob("*.jpg"))
        recipe_path = settings.recipes_dir / "ball-screw.json"
        save_recipe(
            Recipe(
                name="ball screw",
                object_name="ball screw drive",
                detector="anomalydino",
                model="dinov2-small",
                references=tuple(map(str, good[:4])),
                calibration_images=tuple(map(str, held[:10])),
                defect_classes=("pitting", "scratch"),
                extra_anomalous=("{} with pitting",),
                threshold=0.3,
            ),
            recipe_path,
        )
        window = make_window(settings=settings, operator="Ana Ruiz")
        window.resize(*SIZE)
        editor = window.recipes
        window.tabs.setCurrentWidget(editor)
        editor.reload_list(select=str(recipe_path))
        editor.open_path(recipe_path)
        dialog = editor.calibrate()
        with qtbot.waitSignal(dialog.calibrated, timeout=WAIT_MS * 10):
            pass
        dialog.resize(900, 640)
        qtbot.wait(100)
        _save(dialog, out_dir, "calibration_ball_screw.png")
        dialog.apply_button.click()
        editor.save()
        qtbot.wait(300)
        _save(window, out_dir, "recipe_ball_screw.png", SIZE)

        parts = tmp_path / "ball-parts"
        pitting = sorted((ball / "test" / "pitting").glob("*.jpg"))
        _link_parts(parts, [("pitting", pitting[:7]), ("good", held[10:15])])
        window.tabs.setCurrentWidget(window.live)
        _run(qtbot, window, recipe_path, parts, out_dir, "live_ball_screw.png", "operator_view_ball_screw.png")

        review = window.review
        window.tabs.setCurrentWidget(review)
        qtbot.waitUntil(lambda: review.model.rowCount() == 12 and review.detail.data is not None, timeout=WAIT_MS)
        review.table.setFocus()
        scores = [review.model.record(row).score for row in range(12)]
        review.select_row(int(np.argmax(scores)))  # the most suspicious part
        qtbot.waitUntil(lambda: review.detail.data.record.id == review.current_record().id, timeout=WAIT_MS)
        review.ask_label = lambda *_args: "pitting"
        with qtbot.waitSignal(review.override_done, timeout=WAIT_MS):
            review.edit_label()
        record = review.current_record()
        qtbot.waitUntil(
            lambda: review.detail.data.record.id == record.id and bool(review.detail.data.history), timeout=WAIT_MS
        )
        qtbot.wait(200)
        _save(window, out_dir, "review_ball_screw.png", SIZE)

        # found by file name: part of the name typed in the search box
        wanted = Path(review.model.record(3).file_path).name
        review.text.setText(wanted.split("_", 1)[1])  # e.g. "pitting_003.jpg"
        qtbot.waitUntil(lambda: 0 < review.model.rowCount() < 12, timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: review.detail.data is not None and review.detail.data.record.id == review.current_record().id,
            timeout=WAIT_MS,
        )
        qtbot.wait(200)
        _save(window, out_dir, "review_found_by_file_name.png", SIZE)
        review.text.clear()

        # the recipe editor refuses a model the detector cannot use (WinCLIP with DINOv2)
        wrong = settings.recipes_dir / "ball-screw-winclip.json"
        save_recipe(
            Recipe(
                name="ball screw zero-shot", object_name="ball screw drive", detector="winclip", model="dinov2-small"
            ),
            wrong,
        )
        window.tabs.setCurrentWidget(editor)
        editor.show_recipe(str(wrong))
        assert editor.save() is None
        qtbot.wait(200)
        _save(window, out_dir, "recipe_model_refused.png", SIZE)
        window.close()
        qtbot.waitUntil(lambda: window._closed, timeout=WAIT_MS)

        # -- magnetic tiles, dark theme ------------------------------------------------------------------
        apply_theme(app, "dark")
        settings = StationSettings(data_folder=str(tmp_path / "station-tile"), theme="dark")
        settings.recipes_dir.mkdir(parents=True)
        tile_good = sorted((tile / "train" / "good").glob("*.jpg"))
        tile_path = settings.recipes_dir / "magnetic-tile.json"
        save_recipe(
            Recipe(
                name="magnetic tile",
                object_name="magnetic tile",
                detector="anomalydino",
                model="dinov2-small",
                references=tuple(map(str, tile_good[:4])),
                calibration_images=tuple(map(str, tile_good[4:12])),
                defect_classes=("blowhole", "crack", "break", "fray", "uneven"),
            ),
            tile_path,
        )
        window = make_window(settings=settings, operator="Ana Ruiz")
        window.resize(*SIZE)
        window.recipes.open_path(tile_path)
        dialog = window.recipes.calibrate()
        with qtbot.waitSignal(dialog.calibrated, timeout=WAIT_MS * 10):
            pass
        dialog.apply_button.click()
        window.recipes.save()
        tile_parts = tmp_path / "tile-parts"
        _link_parts(
            tile_parts,
            [
                ("blowhole", sorted((tile / "test" / "blowhole").glob("*.jpg"))[:3]),
                ("crack", sorted((tile / "test" / "crack").glob("*.jpg"))[:3]),
                ("good", sorted((tile / "test" / "good").glob("*.jpg"))[:3]),
            ],
        )
        _run(qtbot, window, tile_path, tile_parts, out_dir, "live_magnetic_tile_dark.png")
    finally:
        apply_theme(app, "light")
