"""The window on common screens (#13): a minimum size within 1280x720 with every banner up, banners in
one foldable area, nothing past the window's edge, the dark theme on every widget (the trend too),
readable check boxes, and confirmation before quitting or switching recipe during a run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QCheckBox

from inspector.ui.first_run import WeightsReport
from inspector.ui.theme import apply_theme, colour
from tests.ui.conftest import WAIT_MS, write_parts
from tests.ui.layout_checks import widgets_outside

MISSING = WeightsReport(("dinov2-small",), {"dinov2-small": "How to get the weights:\n" + "step\n" * 25}, False)


LONG_PATH = "/srv/inspection/line-3/station-07/2026-12-01/ball-screw-drive-lot-L-2291-order-778812/camera-2"
LONG_RECIPE = "ball screw drive, 32 mm, rolled thread, supplier Hiwin-Taichung (anomalydino, dinov2-small)"


def _all_banners(window) -> None:
    """Every banner up and realistic long texts everywhere a run writes (what the screenshots showed)."""
    window.first_run.show_report(MISSING)
    for label in (window.source_label, window.model_label, window.audit_label):  # long status texts
        label.setText(label.text() + " " + "very long status text " * 8)
    window.source_label.setText(f"Source: Folder {LONG_PATH}")
    window.model_label.setText(f"Model: {LONG_RECIPE}, 4-shot, memory bank 4096 patches, threshold 0.0856")
    window.operator_label.setText("Operator: Ana Margarita Ruiz-Castellanos (quality engineer, shift B)")
    window.audit_label.setText("Audit trail: verified (12,345 entries, last 2026-12-01 13:20:37 by Ana Ruiz)")
    live = window.live
    live.source_target.setText(LONG_PATH)
    live.recipe.addItem(LONG_RECIPE)
    live.recipe.setCurrentIndex(live.recipe.count() - 1)
    live.lot.setText("L-2291-ORDER-778812-REWORK")
    live.stage.setText(
        "Run finished: 12,345 inspected — 12,001 pass, 300 fail, 44 uncertain "
        f"(recipe '{LONG_RECIPE}' v12, lot L-2291-ORDER-778812-REWORK)."
    )
    live.part_label.setText("0123_blowhole_exp-2026-12-01_cam2_00017_very_long_file_name.jpg  ·  part 12345")
    for i in range(3):
        window.live.messages.show_message(f"warning number {i}: " + "a long explanation " * 6, "warning")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_minimum_size_fits_1280x720_with_every_banner_and_nothing_is_cut(qtbot, make_window, theme):
    app = QApplication.instance()
    apply_theme(app, theme)  # the dark theme's padding widens every chip and button
    try:
        _minimum_size_fits(qtbot, make_window)
    finally:
        apply_theme(app, "light")


def _minimum_size_fits(qtbot, make_window) -> None:
    window = make_window()
    _all_banners(window)
    qtbot.waitUntil(lambda: window.live.banners.count() == 4, timeout=WAIT_MS)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 720, (window.tabs.tabText(index), hint.toTuple())
    for size in ((1280, 720), (1280, 800), (1600, 1000), (3840, 2160)):
        window.resize(*size)
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QApplication.processEvents()
            assert window.size().toTuple() == size
            assert widgets_outside(window) == [], (size, window.tabs.tabText(index))
    # the verdict column keeps its badge whole under the banners (Help ▸ Model weights during a run)
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.live)
    QApplication.processEvents()
    badge = window.live.badge
    assert badge.height() >= badge.sizeHint().height()
    for tile in window.live.counters.values():
        rect = QRect(tile.mapTo(window, QPoint(0, 0)), tile.size())
        assert window.rect().contains(rect) and tile.visibleRegion().boundingRect().size() == tile.size()


def test_banners_share_one_foldable_area_and_stale_ones_go(qtbot, make_window, tiny_recipe):
    _recipe, path = tiny_recipe
    window = make_window()
    live = window.live
    banners = live.banners
    assert not banners.isVisibleTo(window)  # nothing to say: no room taken
    _all_banners(window)
    qtbot.waitUntil(lambda: banners.count() == 4 and banners.isVisibleTo(window), timeout=WAIT_MS)
    assert window.first_run.parentWidget() is not live and banners.isAncestorOf(window.first_run)
    assert all(banners.isAncestorOf(m) for m in live.messages.messages)
    banners.toggle.click()  # fold: one line left
    assert not banners.scroll.isVisibleTo(window) and "4 messages (folded)" in banners.toggle.text()
    banners.toggle.click()
    banners.dismiss.click()
    window.first_run.hide()
    qtbot.waitUntil(lambda: not banners.isVisibleTo(window), timeout=WAIT_MS)

    # "Choose a recipe first" goes once a recipe is chosen
    live.recipe.setCurrentIndex(-1)
    assert window.controller.start() is False
    assert any("Choose a recipe first" in t for t in live.messages.texts())
    live.recipe.setCurrentIndex(live.recipe.findData(str(path)))
    assert not any("Choose a recipe first" in t for t in live.messages.texts())


def _pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(np.int16)


def test_dark_theme_reaches_the_trend_and_check_boxes_read_clearly(qtbot, make_window):
    app = QApplication.instance()
    window = make_window()
    trend = window.live.trend
    try:
        apply_theme(app, "dark")  # after the window (and its plots) exist, as from Settings
        assert trend.backgroundBrush().color() == QColor(colour("dark", "plotBg"))
        axis = trend.getPlotItem().getAxis("left")
        assert axis.textPen().color() == QColor(colour("dark", "plotFg"))
        corner = _pixels(trend)[5, 5]
        assert corner.max() < 80  # dark, not the white it stayed before
        on, off = QCheckBox("on"), QCheckBox("off")
        on.setChecked(True)
        for box in (on, off):
            qtbot.addWidget(box)
            box.resize(80, 24)
        box_size = 22  # the indicator and its surroundings
        difference = np.abs(_pixels(on)[:, :box_size] - _pixels(off)[:, :box_size]).mean()
        assert difference > 20, difference  # checked and unchecked differ at a glance
    finally:
        apply_theme(app, "light")
    assert trend.backgroundBrush().color() == QColor(colour("light", "plotBg"))


def test_quitting_or_switching_recipe_during_a_run_asks_first(qtbot, make_window, tiny_recipe, tmp_path, settings):
    from dataclasses import replace

    from inspector.core.recipe import save_recipe

    recipe, path = tiny_recipe
    other = settings.recipes_dir / "other.json"
    save_recipe(replace(recipe, name="other"), other)
    folder = tmp_path / "hot"
    folder.mkdir()
    window = make_window()
    live = window.live
    window._recipes_changed(str(path))
    live.set_source_choice("hot", str(folder))
    asked: list[str] = []
    answer = [False]
    window.confirm = lambda title, text: asked.append(title) or answer[0]
    window.controller.start()
    qtbot.waitUntil(lambda: "running" in window.source_label.text().lower(), timeout=WAIT_MS)

    window.close()  # "Stop it and quit?" — no
    assert asked == ["Quit during a run"] and window.isVisible() and window.controller.running

    live.recipe.setCurrentIndex(live.recipe.findData(str(other)))  # "Stop it and switch?" — no
    assert asked[-1] == "Switch recipe" and live.recipe_path() == str(path) and window.controller.running

    answer[0] = True
    with qtbot.waitSignal(window.controller.run_finished, timeout=WAIT_MS):
        live.recipe.setCurrentIndex(live.recipe.findData(str(other)))
    assert live.recipe_path() == str(other) and not window.controller.running

    window.controller.start()
    qtbot.waitUntil(lambda: "running" in window.source_label.text().lower(), timeout=WAIT_MS)
    write_parts(folder, 2)
    qtbot.waitUntil(lambda: live.counters["inspected"].value.text() == "2", timeout=WAIT_MS)
    window.close()  # yes: the run stops, what it scored is kept, then the window goes
    assert asked[-1] == "Quit during a run"
    qtbot.waitUntil(lambda: window._closed, timeout=WAIT_MS)
    from inspector.store import open_store

    with open_store(settings.database_path) as store:
        assert store.count() == 2


def test_the_export_options_keep_their_room_with_a_long_result(qtbot, make_window):
    window = make_window()
    window.open_export()
    dialog = window.export_dialog
    dialog.status.setText("Written:\n" + "\n".join(f"/data/exports/report-{i}.pdf" for i in range(30)))
    QApplication.processEvents()
    assert dialog.minimumSizeHint().height() <= 720  # it scrolls instead of growing past the screen
    for widget in (dialog.kind_report, dialog.kind_dataset, dialog.uncertain, dialog.include_unreviewed, dialog.lot):
        assert widget.height() >= widget.minimumSizeHint().height(), widget
    assert widgets_outside(dialog) == []
    dialog.close()


def _badge_lines_apart(badge, where) -> None:
    """Each visible line of the badge inside it, whole (a wrapped one has its height, a single one its
    width) and below the one before it."""
    labels = [label for label in (badge.text, badge.detail, badge.limits, badge.note) if label.isVisible()]
    assert len(labels) == 4, where
    for label in labels:
        assert badge.rect().contains(label.geometry()), (where, label.text())
        if label.wordWrap():
            assert label.height() >= label.heightForWidth(label.width()), (where, label.text())
        else:
            assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width(), (where, label.text())
    for upper, lower in zip(labels, labels[1:], strict=False):
        assert upper.geometry().bottom() < lower.geometry().top(), (where, upper.text(), lower.text())


NOTE = "wrong part: it looks like a magnetic tile, not a ball screw drive (similarity 0.41 < 0.60)"


def test_the_verdict_badge_lays_out_wrapped_lines_without_overlap_at_every_size(qtbot, make_window):
    from inspector.ui.operator_view import OperatorView

    window = make_window()
    for size in ((1280, 720), (1280, 800), (1600, 1000)):  # Live's verdict column
        window.resize(*size)
        window.live.badge.set_verdict("uncertain", 0.18512, 0.20761, band=(0.17712, 0.23824), note=NOTE)
        qtbot.waitUntil(lambda size=size: _badge_lines_apart(window.live.badge, ("live", size)), timeout=WAIT_MS)
    view = OperatorView(lambda *_args: None)  # full screen on 720p, 1080p and 4K panels, and a small one
    qtbot.addWidget(view)
    view.badge.set_verdict("uncertain", 0.18512, 0.20761, band=(0.17712, 0.23824), note=NOTE)
    view.show()
    for size in ((1280, 720), (1920, 1080), (3840, 2160), (1024, 768)):
        view.resize(*size)
        qtbot.waitUntil(lambda size=size: view.size().toTuple() == size, timeout=WAIT_MS)
        # fonts follow the panel and the layout settles after them: wait for it, then it must hold
        qtbot.waitUntil(lambda size=size: _badge_lines_apart(view.badge, ("operator view", size)), timeout=WAIT_MS)
