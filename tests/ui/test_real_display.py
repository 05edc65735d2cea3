"""The window on a real X server (#13): run by `.ci/run` under `xvfb-run` with QT_QPA_PLATFORM=xcb at
1280x800; skipped on the offscreen platform.

The drag-and-drop is real: a second process (``drag_source.py``, standing in for a file manager) starts
a Qt drag of image files when xdotool presses the X pointer on it; xdotool then moves the pointer over
the recipe editor's reference list and releases it. Every step goes through the X server and Qt's xcb
platform (XDND between two processes); the test only waits on what each process reports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QRect
from PySide6.QtWidgets import QApplication, QWidget

from tests.helpers import write_reference
from tests.ui.conftest import WAIT_MS

pytestmark = pytest.mark.skipif(
    os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] != "xcb", reason="needs a real X display (QT_QPA_PLATFORM=xcb)"
)


def _xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=30)


class _DragWatcher(QObject):
    """Counts the drag events that reach a widget (the target side of XDND)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[QEvent.Type] = []

    def eventFilter(self, _watched, event) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            self.seen.append(event.type())
        return False


def _global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def test_files_dragged_from_another_program_land_in_the_reference_list(qtbot, make_window, tiny_recipe, tmp_path):
    if shutil.which("xdotool") is None:
        pytest.fail("xdotool is not installed (bash packaging/install.sh --test installs it)")
    window = make_window()
    window.move(0, 0)
    window.tabs.setCurrentWidget(window.recipes)
    refs = window.recipes.references
    qtbot.waitUntil(lambda: refs.isVisible() and refs.viewport().width() > 50, timeout=WAIT_MS)
    before = refs.count()
    files = [str(write_reference(tmp_path / f"dragged_{i}.png")) for i in range(3)]

    target = _global_rect(refs.viewport())
    screen = window.screen().geometry()
    # the source window sits where it covers neither the list nor the path between them
    sx = target.left() + 10 if target.left() > 240 else target.right() - 240
    sy = screen.bottom() - 140
    lines: list[str] = []
    source = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("drag_source.py")), str(sx), str(sy), *files],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    reader = threading.Thread(target=lambda: lines.extend(iter(source.stdout.readline, "")), daemon=True)
    reader.start()
    watcher = _DragWatcher()
    refs.viewport().installEventFilter(watcher)
    try:
        qtbot.waitUntil(lambda: any(line.startswith("ready") for line in lines), timeout=WAIT_MS)
        _, x, y, w, h = next(line for line in lines if line.startswith("ready")).split()
        _xdotool("mousemove", "--sync", str(int(x) + int(w) // 2), str(int(y) + int(h) // 2))
        _xdotool("mousedown", "1")
        qtbot.waitUntil(lambda: "dragging\n" in lines, timeout=WAIT_MS)
        centre = target.center()
        # a few real pointer moves towards the list, then over it until Qt reports the drag there
        for step in range(1, 4):
            px = int(x) + (centre.x() - int(x)) * step // 4
            py = int(y) + (centre.y() - int(y)) * step // 4
            _xdotool("mousemove", str(px), str(py))
        for dx in (0, 6, 12, 18, 24):
            _xdotool("mousemove", str(centre.x() + dx), str(centre.y()))
            try:
                qtbot.waitUntil(lambda: QEvent.Type.DragMove in watcher.seen, timeout=WAIT_MS)
                break
            except qtbot.TimeoutError:
                continue
        assert QEvent.Type.DragEnter in watcher.seen, "the drag never reached the reference list"
        _xdotool("mouseup", "1")
        qtbot.waitUntil(lambda: any(line.startswith("dropped") for line in lines), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: refs.count() == before + 3, timeout=WAIT_MS)
    finally:
        refs.viewport().removeEventFilter(watcher)
        if source.poll() is None:
            source.kill()
        source.wait(timeout=30)
    assert QEvent.Type.Drop in watcher.seen
    assert {Path(p).name for p in refs.paths()} >= {Path(f).name for f in files}
    assert "dropped CopyAction\n" in lines


def test_no_widget_of_the_main_window_extends_past_the_screen(qtbot, make_window):
    from tests.ui.layout_checks import widgets_outside

    window = make_window()
    screen = window.screen().availableGeometry()
    QApplication.processEvents()
    frame = window.frameGeometry()
    assert screen.contains(frame), (frame.getRect(), screen.getRect())
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        inside = QRect(window.mapFromGlobal(screen.topLeft()), screen.size())
        assert widgets_outside(window, inside) == [], window.tabs.tabText(index)
