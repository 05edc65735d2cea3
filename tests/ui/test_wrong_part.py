"""WRONG PART in the window: its own badge colour in Live, Review and the detail, and its own filter.

Magnetic tiles under a ball-screw recipe, scored by the real pipeline with the tiny DINOv2 whose image
embeddings are set so the case is known (``tests/pipeline/known_lots.py``, as the pipeline's test).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from inspector.core.recipe import save_recipe
from inspector.pipeline import InspectionPipeline, PartStatus
from inspector.sources import make_source
from inspector.store import open_store
from inspector.ui.heatmap_overlay import prepare_part
from inspector.ui.review_model import VERDICT_COLUMN
from inspector.ui.theme import VERDICT_COLOURS
from tests.pipeline.known_lots import ball_screw_recipe, known_embeddings_detector, write_tiles_among_screws
from tests.ui.conftest import WAIT_MS
from tests.ui.test_review import _open_review


@pytest.fixture
def lot_with_tiles(tmp_path, settings, tiny_registry):
    """Two ball screws and two magnetic tiles run under the ball-screw recipe; the pipeline's results."""
    recipe = ball_screw_recipe()
    settings.recipes_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, settings.recipes_dir / "ball-screw.json")
    lot = write_tiles_among_screws(tmp_path / "lot")
    detector = known_embeddings_detector(recipe)
    results = []
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        summary = InspectionPipeline(
            recipe, detector, store, make_source(lot), keep_images="all", on_result=results.append
        ).run()
    assert summary.wrong_parts == 2
    return [r for r in results if r.status is PartStatus.STORED]


def _image(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _shot(widget, name: str) -> None:
    target = os.environ.get("INSPECTOR_SCREENSHOTS_DIR")
    if target:
        assert widget.grab().save(str(Path(target) / name))


def test_review_shows_wrong_parts_in_purple_with_their_own_filter(qtbot, make_window, lot_with_tiles):
    window = make_window()
    window.resize(1280, 800)
    review = _open_review(qtbot, window)
    assert review.model.rowCount() == 4
    rows = {Path(review.model.record(r).file_path).name: r for r in range(4)}
    for name, row in rows.items():
        index = review.model.index(row, VERDICT_COLUMN)
        text = review.model.data(index, Qt.ItemDataRole.DisplayRole)
        brush = review.model.data(index, Qt.ItemDataRole.ForegroundRole)
        expected = "wrong_part" if name.startswith("tile") else "pass"
        assert text == ("WRONG PART" if expected == "wrong_part" else "PASS")
        assert brush.color() == QColor(VERDICT_COLOURS[expected])

    review.wrong_part_box.setChecked(True)
    qtbot.waitUntil(lambda: review.model.rowCount() == 2 and not review.model.loading, timeout=WAIT_MS)
    assert sorted(Path(review.model.record(r).file_path).name for r in range(2)) == ["tile-0.jpg", "tile-1.jpg"]
    review.select_row(0)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.wrong_part is True, timeout=WAIT_MS
    )
    badge = review.detail.badge
    qtbot.waitUntil(lambda: badge.verdict == "wrong_part", timeout=WAIT_MS)
    assert badge.text.text() == "WRONG PART" and "unlike the good parts" in badge.note.text()
    _shot(window, "review_wrong_part.png")
    review.wrong_part_box.setChecked(False)
    qtbot.waitUntil(lambda: review.model.rowCount() == 4 and not review.model.loading, timeout=WAIT_MS)


def test_live_badge_says_wrong_part_with_its_reason(qtbot, make_window, lot_with_tiles):
    window = make_window()
    live = window.live
    tile = next(r for r in lot_with_tiles if r.wrong_part)
    part = prepare_part(
        _image(tile.path),
        None,
        threshold=tile.threshold,
        score=tile.score,
        verdict=tile.verdict.value,
        index=tile.index,
        path=tile.path,
        inspection_id=tile.inspection_id,
        wrong_part=True,
        identity_reason=tile.identity_reason,
    )
    live.show_part(part, None, random_weights=True)
    assert live.badge.verdict == "wrong_part" and live.badge.text.text() == "WRONG PART"
    assert tile.identity_reason in live.badge.note.text() and "RANDOM WEIGHTS" in live.badge.note.text()
    screw = next(r for r in lot_with_tiles if not r.wrong_part)
    live.show_part(
        prepare_part(_image(screw.path), None, threshold=screw.threshold, score=screw.score, verdict="pass"),
        None,
        random_weights=True,
    )
    assert live.badge.verdict == "pass"
