"""Calibrate a recipe's threshold from good parts, and see it: the good references' score histogram
with the threshold and the uncertain band. The model runs on a worker thread (with progress and
cancel); changing the quantile, margin or band afterwards only re-does the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.calibration import Calibration, calibrate_threshold
from inspector.core.recipe import Recipe
from inspector.ui.plain_text import RICH_PROPERTY
from inspector.ui.theme import VERDICT_COLOURS, ThemedPlot
from inspector.ui.widgets import fmt_score
from inspector.ui.workers import Job


class ScoreHistogram(ThemedPlot):
    """Histogram of good parts' scores with the threshold line and the uncertain band."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(240)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("bottom", "score of good parts")
        self.setLabel("left", "count")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(
            x=[], height=[], width=0.1, brush=pg.mkBrush(VERDICT_COLOURS["pass"]), pen=pg.mkPen("#14622b")
        )
        self.addItem(self.bars)
        self.band = pg.LinearRegionItem(
            values=(0, 0), movable=False, brush=pg.mkBrush(232, 160, 0, 60), pen=pg.mkPen(None)
        )
        self.band.setVisible(False)
        self.addItem(self.band)
        self.line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(VERDICT_COLOURS["fail"], width=3, style=Qt.PenStyle.DashLine),
            label="threshold {value:.4g}",
            labelOpts={"position": 0.92, "color": VERDICT_COLOURS["fail"]},
        )
        self.line.setVisible(False)
        self.addItem(self.line)
        self.counts: np.ndarray = np.zeros(0)

    def show_scores(self, scores: list[float], threshold: float | None, band: tuple[float, float] | None) -> None:
        values = np.asarray(scores, dtype=np.float64)
        if values.size:
            bins = int(min(30, max(6, values.size // 2)))
            lo, hi = float(values.min()), float(values.max())
            if threshold is not None:
                hi = max(hi, threshold)
            if band:
                lo, hi = min(lo, band[0]), max(hi, band[1])
            if hi <= lo:
                hi = lo + 1e-3
            counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
            self.counts = counts
            self.bars.setOpts(x=(edges[:-1] + edges[1:]) / 2, height=counts, width=(edges[1] - edges[0]) * 0.9)
            pad = (hi - lo) * 0.08
            self.setXRange(lo - pad, hi + pad, padding=0)
            self.setYRange(0, max(1, counts.max()) * 1.15, padding=0)
        self.line.setVisible(threshold is not None)  # (the label only follows the value while visible)
        if threshold is not None:
            self.line.setValue(threshold)
        if band:
            self.band.setRegion(band)
        self.band.setVisible(bool(band))


class CalibrationDialog(QDialog):
    """Runs the calibration and lets the engineer accept the threshold (``result_recipe``)."""

    calibrated = Signal()

    def __init__(
        self, recipe: Recipe, run: Callable[[Recipe, Any], tuple[Recipe, Calibration]], parent: QWidget | None = None
    ) -> None:
        """``run(recipe, progress)`` computes the calibration (on a worker thread)."""
        super().__init__(parent)
        self.setWindowTitle(f"Calibrate '{recipe.name}'")
        self.setMinimumSize(720, 560)
        self.recipe = recipe
        self._run = run
        self.scores: list[float] = []
        self.calibration: Calibration | None = None
        self.result_recipe: Recipe | None = None
        self.job: Job | None = None
        how = (
            "held-out good images"
            if recipe.calibration_images
            else "leave-one-out over the good references"
            if recipe.few_shot
            else "the good references"
        )
        intro = QLabel(
            f"The threshold is set from the scores of good parts the model did not learn from "
            f"(here: {how}): a high quantile of those scores plus a margin. Parts in the amber band "
            f"go to the review queue as UNCERTAIN."
        )
        intro.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.status = QLabel("Starting …")
        self.status.setObjectName("muted")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)
        self.histogram = ScoreHistogram()
        self.quantile = QDoubleSpinBox()
        self.quantile.setRange(0.5, 1.0)
        self.quantile.setSingleStep(0.01)
        self.quantile.setDecimals(3)
        self.quantile.setValue(0.99)
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, 10.0)
        self.margin.setSingleStep(0.25)
        self.margin.setValue(1.0)
        self.margin.setSuffix(" σ")
        self.band = QDoubleSpinBox()
        self.band.setRange(0.0, 10.0)
        self.band.setSingleStep(0.25)
        self.band.setValue(1.0)
        self.band.setSuffix(" σ")
        self.band.setToolTip("Half-width of the uncertain band; 0: no band (pass or fail only)")
        form = QFormLayout()
        form.addRow("Quantile of good scores", self.quantile)
        form.addRow("Margin above it", self.margin)
        form.addRow("Uncertain band ±", self.band)
        for spin in (self.quantile, self.margin, self.band):
            spin.valueChanged.connect(self._recompute)
            spin.setEnabled(False)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setProperty(RICH_PROPERTY, True)  # numbers only
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Close)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setText("Use this threshold")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self._apply)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(prow)
        layout.addWidget(self.status)
        layout.addWidget(self.histogram, 1)
        bottom = QHBoxLayout()
        bottom.addLayout(form)
        bottom.addWidget(self.summary, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.buttons)

    # -- running -----------------------------------------------------------------------------------------
    def start(self) -> None:
        recipe = self.recipe
        self.job = Job(lambda progress: self._run(recipe, progress), name="inspector-calibrate", parent=self)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(lambda: self._failed("Calibration cancelled.", None))
        self.job.start()

    def _progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status.setText(f"Scoring good parts ({message}): {done} / {total}")
        else:
            self.status.setText(message or "Loading the model …")

    def _finished(self, result: tuple[Recipe, Calibration]) -> None:
        recipe, calibration = result
        self.job = None
        self.scores = [float(s) for s in recipe.calibration.get("good_scores", [])]
        self._method = calibration.method
        provenance = ("model", "random_weights", "model_fingerprint", "device", "dtype")  # see core/provenance
        self._extra = {k: recipe.calibration[k] for k in provenance if k in recipe.calibration}
        self.quantile.blockSignals(True)
        self.margin.blockSignals(True)
        self.band.blockSignals(True)
        self.quantile.setValue(calibration.quantile)
        self.margin.setValue(calibration.margin)
        self.band.setValue(calibration.band)
        for spin in (self.quantile, self.margin, self.band):
            spin.blockSignals(False)
            spin.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.cancel_button.setEnabled(False)
        rw = " — RANDOM WEIGHTS: this threshold is meaningless" if recipe.calibration.get("random_weights") else ""
        self.status.setText(f"Scored {len(self.scores)} good parts ({calibration.method}){rw}.")
        self._show(calibration)
        self.apply_button.setEnabled(True)
        self.calibrated.emit()

    def _failed(self, message: str, _exc: object) -> None:
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(False)
        self.status.setText(message)
        self.status.setStyleSheet("color: #d93025; font-weight: 600;")

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling after the current image …")

    def _recompute(self) -> None:
        if len(self.scores) < 2:
            return
        calibration = calibrate_threshold(
            self.scores,
            quantile=self.quantile.value(),
            margin=self.margin.value(),
            band=self.band.value(),
            method=getattr(self, "_method", ""),
        )
        self._show(calibration)

    def _show(self, calibration: Calibration) -> None:
        self.calibration = calibration
        self.histogram.show_scores(self.scores, calibration.threshold, calibration.uncertain_band)
        band = calibration.uncertain_band
        band_text = f"{fmt_score(band[0])} – {fmt_score(band[1])}" if band else "none"
        self.summary.setText(
            f"<span style='font-size:16pt; font-weight:700'>Threshold {fmt_score(calibration.threshold)}</span>"
            f"<br><span style='font-size:12pt; font-weight:600'>uncertain band {band_text}</span>"
            f"<br>{calibration.n_good} good parts: min {fmt_score(calibration.good_min)}, median "
            f"{fmt_score(calibration.good_median)}, max {fmt_score(calibration.good_max)}, "
            f"σ {fmt_score(calibration.good_std)}"
        )

    def _apply(self) -> None:
        calibration = self.calibration
        if calibration is None:
            return
        summary = calibration.as_dict()
        summary["good_scores"] = list(self.scores)
        summary.update(getattr(self, "_extra", {}))
        self.result_recipe = self.recipe.with_threshold(calibration.threshold, calibration.uncertain_band, summary)
        self.accept()

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()
        super().reject()
