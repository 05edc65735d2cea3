"""Python's cycle collector on the GUI thread only.

The collector runs on whichever thread happens to allocate when a threshold is crossed. On a worker
thread (a database read, a caption) it may free a Qt widget that sat in a reference cycle, and the
widget's destructor then runs off the GUI thread: it takes Qt's connection lock and waits for the
GIL, while the GUI thread holds the GIL and waits for that lock. The station froze that way in a CI
run (a pyqtgraph menu collected on ``inspector-read_1`` while the calibration dialog was built).

:func:`install` turns automatic collection off and collects on the GUI thread from a timer, with the
interpreter's own thresholds deciding which generations, as automatic collection would.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250


class GuiThreadCollector(QObject):
    """Collects garbage on the thread it lives on (the GUI thread), every ``INTERVAL_MS``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer.start()

    def check(self) -> int:
        """Collect the generations whose thresholds are crossed; what was collected."""
        counts = gc.get_count()
        generation = -1
        for g in range(3):
            if counts[g] > self.thresholds[g]:
                generation = g
        return gc.collect(generation) if generation >= 0 else 0

    def uninstall(self) -> None:
        self.timer.stop()
        if self.was_enabled:
            gc.enable()


def install(app: QObject) -> GuiThreadCollector:
    """Collect on the GUI thread for the life of ``app`` (the QApplication); idempotent."""
    existing = getattr(app, "_inspector_gc", None)
    if isinstance(existing, GuiThreadCollector):
        return existing
    collector = GuiThreadCollector(app)
    app._inspector_gc = collector  # type: ignore[attr-defined]
    return collector
