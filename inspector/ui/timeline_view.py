"""A video run's score against time with its peaks marked; clicking a frame or a peak opens that part.

The peaks are :func:`inspector.core.timeline.recipe_peaks`, the same rule as the run summary and the
report. The dialog reads the run's timeline on a worker thread (``station.tasks``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout

from inspector.core.timeline import Peak, TimelinePoint, recipe_peaks
from inspector.ui.theme import NEUTRAL_COLOUR, VERDICT_COLOURS, ThemedPlot
from inspector.ui.workers import describe_error


def format_media_time(seconds: float) -> str:
    """``83.4`` -> ``1:23.4`` (minutes:seconds with tenths); under a minute ``23.4 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def peak_stars(size: int) -> pg.ScatterPlotItem:
    """The scatter item that marks a timeline's peaks: white-edged stars in the fail colour."""
    return pg.ScatterPlotItem(
        size=size, symbol="star", pen=pg.mkPen("#ffffff", width=1), brush=pg.mkBrush(VERDICT_COLOURS["fail"])
    )


def show_peaks(stars: pg.ScatterPlotItem, peaks: Sequence[Peak]) -> None:
    """Put a star on each peak, carrying its inspection id for :func:`chosen_part`."""
    stars.setData(
        x=[p.time_s for p in peaks],
        y=[p.score for p in peaks],
        data=[p.inspection_id for p in peaks],
    )


def chosen_part(spots) -> str | None:
    """The inspection id of the first clicked spot that carries one (``sigClicked``'s spots), else None."""
    for spot in spots:
        if spot.data():
            return str(spot.data())
    return None


def peak_text(peak: Peak, frame: int | None) -> str:
    where = f"frame {frame}" if frame is not None else "frame ?"
    return f"{format_media_time(peak.time_s)}  ·  {where}  ·  score {peak.score:.4g}"


class TimelinePlot(ThemedPlot):
    """Score (y) against time in the video (x); peaks as stars. ``part_chosen(id)`` on a click."""

    part_chosen = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLabel("left", "score")
        self.setLabel("bottom", "time in the video (s)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot([], [], pen=pg.mkPen(QColor(NEUTRAL_COLOUR), width=1))
        self.frames = pg.ScatterPlotItem(size=7, pen=pg.mkPen(None), brush=pg.mkBrush(QColor(NEUTRAL_COLOUR)))
        self.stars = peak_stars(18)
        for item in (self.frames, self.stars):
            item.sigClicked.connect(self._clicked)
            self.addItem(item)
        self.threshold_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(VERDICT_COLOURS["fail"], width=1, style=Qt.PenStyle.DashLine),
            label="threshold {value:.4g}",
            labelOpts={"position": 0.05, "color": VERDICT_COLOURS["fail"], "anchors": [(0, 1), (0, 1)]},
        )
        self.threshold_line.setVisible(False)
        self.addItem(self.threshold_line)
        self.points: list[TimelinePoint] = []
        self.peaks: list[Peak] = []

    def set_timeline(self, points: Sequence[TimelinePoint], peaks: Sequence[Peak], threshold: float | None) -> None:
        self.points, self.peaks = list(points), list(peaks)
        x = np.array([p.time_s for p in self.points], dtype=np.float64)
        y = np.array([p.score for p in self.points], dtype=np.float64)
        self.curve.setData(x, y)
        self.frames.setData(x=x, y=y, data=[p.inspection_id for p in self.points])
        show_peaks(self.stars, self.peaks)
        self.threshold_line.setVisible(threshold is not None)  # (the label follows the value only while visible)
        if threshold is not None:
            self.threshold_line.setValue(threshold)

    def _clicked(self, _item, spots, *_args) -> None:
        part = chosen_part(spots)
        if part is not None:
            self.part_chosen.emit(part)


class TimelineDialog(QDialog):
    """The timeline of the run a video part belongs to, with its peaks listed (Enter opens one)."""

    part_chosen = Signal(str)

    def __init__(self, station, run_id: str, threshold: float | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Video timeline")
        self.resize(900, 520)
        self.station = station
        self.run_id = run_id
        self.threshold = threshold
        self.summary = QLabel("Reading the run's frames…")
        self.plot = TimelinePlot()
        self.peak_list = QListWidget()
        self.peak_list.setMaximumHeight(140)
        self.peak_list.itemActivated.connect(self._peak_activated)
        self.plot.part_chosen.connect(self.part_chosen)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        layout.addWidget(QLabel("Peaks (click a star or press Enter on a peak to open that frame)"))
        layout.addWidget(self.peak_list)
        layout.addWidget(buttons)
        store = station.store
        if store is None:
            self.summary.setText("No database is open.")
            return
        station.tasks.submit(lambda: store.timeline(run_id), self._loaded, self._failed)

    def _loaded(self, points: list[TimelinePoint]) -> None:
        peaks = recipe_peaks(points, self.threshold)
        self.plot.set_timeline(points, peaks, self.threshold)
        frames = {p.inspection_id: p.frame_index for p in points}
        self.peak_list.clear()
        for peak in peaks:
            item = QListWidgetItem(peak_text(peak, frames.get(peak.inspection_id)))
            item.setData(Qt.ItemDataRole.UserRole, peak.inspection_id)
            self.peak_list.addItem(item)
        span = f" over {format_media_time(points[-1].time_s)}" if points else ""
        self.summary.setText(f"{len(points)} scored frames{span}; {len(peaks)} peak{'s' * (len(peaks) != 1)}")
        if peaks:
            self.peak_list.setCurrentRow(0)

    def _failed(self, exc: BaseException) -> None:
        self.summary.setText(f"The timeline could not be read: {describe_error(exc)}")

    def _peak_activated(self, item: QListWidgetItem) -> None:
        part = item.data(Qt.ItemDataRole.UserRole)
        if part:
            self.part_chosen.emit(str(part))
