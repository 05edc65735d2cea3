"""The trend of recent scores against the threshold (pyqtgraph), redrawn at screen rate at most."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor

from inspector.core.timeline import Peak, TimelinePoint, recipe_peaks
from inspector.ui.theme import NEUTRAL_COLOUR, VERDICT_COLOURS, ThemedPlot
from inspector.ui.timeline_view import chosen_part, peak_stars, show_peaks


class TrendPlot(ThemedPlot):
    """Recent scores as points coloured by verdict, a thin line joining them, the threshold line and
    the uncertain band. :meth:`add` only queues points; :meth:`refresh` draws (called by the window's
    screen-rate timer) at most every ``min_interval_s``, so a burst of results costs one redraw and a
    fast line does not spend the GUI thread on re-drawing axes.

    Frames of a video come with their time in the video: the x axis is then that time, and the
    timeline's peaks (:func:`~inspector.core.timeline.recipe_peaks`) are marked with stars. A click on
    a point or a star emits ``part_chosen(inspection id)``.
    """

    part_chosen = Signal(str)

    def __init__(self, parent=None, *, capacity: int = 200, min_interval_s: float = 0.25) -> None:
        super().__init__(parent)
        self.listeners: list = []  # called with (score, verdict) for every point added
        self.capacity = capacity
        self.min_interval_s = min_interval_s
        self._last_draw = 0.0
        self._y_range: tuple[float, float] | None = None
        self._x_right: int | None = None
        self.setAntialiasing(False)  # it repaints with every result: keep each paint to a few ms
        self.setMinimumHeight(150)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=False, y=True, alpha=0.25)
        self.setLabel("left", "score")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setLabel("bottom", "part")
        self._x: deque[int] = deque(maxlen=capacity)
        self._y: deque[float] = deque(maxlen=capacity)
        self._v: deque[str] = deque(maxlen=capacity)
        self._ids: deque[str | None] = deque(maxlen=capacity)
        self._timed = False  # x is the time in the video (seconds) rather than the part's number
        self.peaks: list[Peak] = []
        self._count = 0
        self._dirty = False
        self.curve = self.plot([], [], pen=pg.mkPen(QColor(NEUTRAL_COLOUR), width=1))
        # one scatter item per verdict, each with a single brush: far cheaper to paint than per-point brushes
        self.points = {
            k: pg.ScatterPlotItem(size=9, pen=pg.mkPen(None), brush=pg.mkBrush(QColor(c)))
            for k, c in {**VERDICT_COLOURS, "": NEUTRAL_COLOUR}.items()
        }
        self.stars = peak_stars(16)
        for item in (*self.points.values(), self.stars):
            item.sigClicked.connect(self._clicked)
            self.addItem(item)
        self.band = pg.LinearRegionItem(
            values=(0, 0),
            orientation="horizontal",
            movable=False,
            brush=pg.mkBrush(232, 160, 0, 45),
            pen=pg.mkPen(None),
        )
        self.band.setVisible(False)
        self.addItem(self.band)
        pen = pg.mkPen(VERDICT_COLOURS["fail"], width=2)
        self.threshold_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pen,
            label="threshold {value:.4g}",
            labelOpts={"position": 0.05, "color": VERDICT_COLOURS["fail"], "anchors": [(0, 1), (0, 1)]},
        )
        self.threshold_line.setVisible(False)
        self.addItem(self.threshold_line)

    def set_threshold(self, threshold: float | None, band: tuple[float, float] | None = None) -> None:
        if threshold is None:
            self.threshold_line.setVisible(False)
        else:
            self.threshold_line.setVisible(True)  # (the label only follows the value while visible)
            self.threshold_line.setValue(threshold)
        if band:
            self.band.setRegion(band)
            self.band.setVisible(True)
        else:
            self.band.setVisible(False)
        self._dirty = True

    def add(
        self, score: float, verdict: str | None, *, time_s: float | None = None, inspection_id: str | None = None
    ) -> None:
        for listener in self.listeners:  # e.g. Live's drift banner
            listener(score, verdict)
        self._count += 1
        if time_s is not None and not self._timed and not self._x:
            self._timed = True
            self.setLabel("bottom", "time in the video (s)")
        self._x.append(float(time_s) if self._timed and time_s is not None else self._count)
        self._y.append(float(score))
        self._v.append(str(verdict or ""))
        self._ids.append(inspection_id)
        self._dirty = True

    def _clicked(self, _item, spots, *_args) -> None:
        part = chosen_part(spots)
        if part is not None:
            self.part_chosen.emit(part)

    def _update_peaks(self, x: np.ndarray, y: np.ndarray) -> None:
        threshold = self.threshold_line.value() if self.threshold_line.isVisible() else None
        points = [TimelinePoint(float(t), float(s), i) for t, s, i in zip(x, y, self._ids, strict=True)]
        self.peaks = recipe_peaks(points, threshold) if self._timed else []
        show_peaks(self.stars, self.peaks)

    def clear_points(self) -> None:
        self._y_range = None
        self._x_right = None
        self._x.clear()
        self._y.clear()
        self._v.clear()
        self._ids.clear()
        self._count = 0
        if self._timed:
            self._timed = False
            self.setLabel("bottom", "part")
        self._dirty = True
        self.refresh(force=True)

    @property
    def n_points(self) -> int:
        return len(self._y)

    def scores(self) -> list[float]:
        return list(self._y)

    def refresh(self, force: bool = False) -> bool:
        """Redraw if points or lines changed since the last redraw (and not too recently); True when it drew."""
        if not self._dirty:
            return False
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval_s:
            return False
        self._last_draw = now
        self._dirty = False
        x = np.fromiter(self._x, dtype=np.float64, count=len(self._x))
        y = np.fromiter(self._y, dtype=np.float64, count=len(self._y))
        self.curve.setData(x, y)
        verdicts = np.array(self._v, dtype=object)
        ids = np.array(self._ids, dtype=object)
        for key, item in self.points.items():
            chosen = verdicts == key
            item.setData(x=x[chosen], y=y[chosen], data=ids[chosen])
        self._update_peaks(x, y)
        if len(x):
            lo = float(y.min())
            hi = float(y.max())
            if self.threshold_line.isVisible():
                lo = min(lo, self.threshold_line.value())
                hi = max(hi, self.threshold_line.value())
            if self.band.isVisible():
                b0, b1 = self.band.getRegion()
                lo, hi = min(lo, b0), max(hi, b1)
            pad = (hi - lo) * 0.08 or 0.05
            self._set_ranges((lo - pad, hi + pad), x[-1])
        return True

    def _set_ranges(self, y_range: tuple[float, float], last: float) -> None:
        """Axes move in steps, not with every point: unchanged axes are repainted from pyqtgraph's cache,
        which keeps a redraw of the trend to a few milliseconds."""
        y0, y1 = self._y_range or y_range
        if self._y_range is None or y_range[0] < y0 or y_range[1] > y1:
            span = y_range[1] - y_range[0]
            self._y_range = (min(y0, y_range[0] - 0.1 * span), max(y1, y_range[1] + 0.1 * span))
            self.setYRange(*self._y_range, padding=0)
        if self._timed:  # the kept frames' time span, widened in 5 s steps
            first = float(self._x[0]) if self._x else 0.0
            right = max(5, -(-int(last) // 5) * 5)
            if right != self._x_right:
                self._x_right = right
                self.setXRange(max(0.0, min(first, right - 5)), right, padding=0.02)
            return
        step = max(10, self.capacity // 4)
        right = next((r for r in (10, 20, 50) if last <= r), -(-int(last) // step) * step)
        if right != self._x_right:
            self._x_right = right
            self.setXRange(max(0.5, right - self.capacity + 0.5), right + 0.5, padding=0)
