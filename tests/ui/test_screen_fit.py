"""Review and Recipes on a 1280x800 screen (#13 point 2), measured on the widgets' geometry: the review
table gets a fair first share with the File column on screen (long names cut in the middle, the full
path in the tooltip) and the operator's divider is kept; the Recipes screen needs no sideways scrolling
and its image counts are whole."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem

from inspector.pipeline import InspectionPipeline
from inspector.sources import make_source
from inspector.store import open_store
from inspector.ui.review_model import COLUMN
from inspector.ui.theme import apply_theme
from tests.helpers import fitted_tiny_dino
from tests.ui.conftest import WAIT_MS, write_parts
from tests.ui.layout_checks import widgets_outside

LONG_NAME = "{:04d}_blowhole_exp-2026-12-01_line3_cam2_{:05d}.png"  # 49 characters, as cameras name them


@pytest.fixture
def long_named(tmp_path, settings, tiny_recipe):
    """A station database with 6 parts whose file names are longer than any column."""
    recipe, _path = tiny_recipe
    folder = tmp_path / "long-parts"
    for i, path in enumerate(write_parts(folder, 6)):
        path.rename(folder / LONG_NAME.format(i, 17 + i))
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        summary = InspectionPipeline(recipe, fitted_tiny_dino(recipe), store, make_source(folder)).run()
    assert summary.inspected == 6
    return folder


def _review_at(qtbot, window, size):
    window.resize(*size)
    window.tabs.setCurrentWidget(window.review)
    review = window.review
    qtbot.waitUntil(lambda: review.model.rowCount() == 6 and review.detail.data is not None, timeout=WAIT_MS)
    QApplication.processEvents()
    return review


def _table_share(review) -> float:
    table, detail = review.splitter.sizes()
    return table / (table + detail)


def test_review_table_shows_the_file_column_at_1280x800_and_keeps_the_operators_divider(qtbot, make_window, long_named):
    window = make_window()
    review = _review_at(qtbot, window, (1280, 800))
    table, file = review.table, COLUMN["File"]
    assert _table_share(review) >= 0.44, review.splitter.sizes()
    assert review.detail.overlay.width() >= 330  # the part's image stays large enough to judge
    # the File column lies whole inside the table's view, the verdict next to it starts on screen too
    left = table.columnViewportPosition(file)
    assert left >= 0 and left + table.columnWidth(file) <= table.viewport().width()
    assert table.columnViewportPosition(COLUMN["Verdict"]) < table.viewport().width() - 40
    # a long name is cut in the middle: its start and its distinguishing end both show (>= 24 characters)
    index = review.model.index(0, file)
    name = index.data()
    assert len(name) == 49
    option = QStyleOptionViewItem()
    delegate = table.itemDelegateForColumn(file)
    assert delegate is not None, "the File column has no eliding delegate"
    delegate.initStyleOption(option, index)
    assert option.textElideMode == Qt.TextElideMode.ElideMiddle
    shown = option.fontMetrics.elidedText(name, option.textElideMode, table.columnWidth(file) - 12)
    assert shown.startswith(name[:10]) and shown.endswith(name[-10:]) and len(shown) >= 24, shown
    assert str(long_named / name) in index.data(Qt.ItemDataRole.ToolTipRole)  # the full path
    # 1920x1080: the same share, a wider table
    review = _review_at(qtbot, window, (1920, 1080))
    assert abs(_table_share(review) - 0.45) < 0.01, review.splitter.sizes()

    # the operator drags the divider: that split stays through a window resize and a tab switch
    review = _review_at(qtbot, window, (1280, 800))
    handle = review.splitter.handle(1)
    start = handle.rect().center()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(handle, start + QPoint(-150, 0))
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start + QPoint(-150, 0))
    QApplication.processEvents()
    dragged = review.splitter.sizes()
    assert dragged[0] < 0.40 * sum(dragged), dragged
    window.tabs.setCurrentWidget(window.live)
    review = _review_at(qtbot, window, (1280, 800))
    assert review.splitter.sizes() == dragged
    review = _review_at(qtbot, window, (1600, 1000))
    assert _table_share(review) < 0.42, review.splitter.sizes()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_recipes_screen_fits_1280_without_sideways_scrolling(qtbot, make_window, tiny_recipe, theme):
    app = QApplication.instance()
    apply_theme(app, theme)  # the dark theme's padding widens buttons and boxes
    try:
        _recipes_fit(qtbot, make_window, tiny_recipe)
    finally:
        apply_theme(app, "light")


def _recipes_fit(qtbot, make_window, tiny_recipe) -> None:
    _recipe, path = tiny_recipe
    window = make_window()
    editor = window.recipes
    for size in ((1280, 800), (1920, 1080), (1280, 720)):
        window.resize(*size)
        window.tabs.setCurrentWidget(editor)
        editor.show_recipe(str(path))
        QApplication.processEvents()
        QApplication.processEvents()
        scroll, form = editor.form_scroll, editor.form_scroll.widget()
        viewport = scroll.viewport()
        assert not scroll.horizontalScrollBar().isVisible(), (size, form.minimumSizeHint().width(), viewport.width())
        assert form.width() <= viewport.width(), size
        assert widgets_outside(form) == [], size  # every widget of the form within it: all reachable
        for label in (editor.ref_count, editor.held_count):  # "1 reference", "0 held-out images" whole
            rect = QRect(label.mapTo(viewport, QPoint(0, 0)), label.size())
            assert label.isVisible() and label.width() >= label.sizeHint().width(), (size, label.text())
            assert rect.left() >= 0 and rect.right() < viewport.width(), (size, label.text(), rect.getRect())
        # wide screens keep the panels beside the form; 1280 puts them under it, still two columns
        refs_left = editor.references.mapTo(form, QPoint(0, 0)).x()
        assert refs_left > editor.name.mapTo(form, QPoint(0, 0)).x() + editor.name.width() // 2, size
        golden = editor.golden.mapTo(form, QPoint(0, 0))
        if size[0] == 1920:
            assert golden.x() >= refs_left - 20, "the side panels are in the second column at 1920"
    assert editor.ref_count.text() == "1 reference"
