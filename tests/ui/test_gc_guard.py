"""Garbage with Qt objects is collected on the GUI thread, never by a worker thread's allocations."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from inspector.ui import gc_guard


class _Cycle(QObject):
    """A Qt object kept alive only by a reference cycle (as pyqtgraph's menus are)."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def test_cycles_with_qt_objects_are_freed_on_the_gui_thread(qapp, qtbot):
    collector = gc_guard.install(qapp)
    assert not gc.isenabled() and gc_guard.install(qapp) is collector
    _Cycle.freed_on.clear()
    _Cycle()  # garbage, in a cycle

    held: list = []

    def allocate() -> None:  # far past generation 0's threshold: automatic collection would run here
        held.extend([i] for i in range(20_000))

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert _Cycle.freed_on == []  # the worker's allocations freed nothing
    qtbot.waitUntil(lambda: _Cycle.freed_on == [threading.main_thread().name], timeout=10_000)
