"""The Recipes screen's "Threshold from reviewed parts" panel (a widget of its own).

ROC of the reviewed parts, their score histograms (good and defective), the current and the proposed
threshold and band, the rates with their intervals, and Apply (a new recipe version). The figures are
computed on a worker thread (:meth:`~inspector.ui.workers.Tasks.submit`); the GUI thread only paints.
Apply runs :func:`inspector.recalibration.apply_recalibration` (``apply_step``, which an engineer's
signature can gate) on the database writer thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.recipe import Recipe
from inspector.recalibration import Recalibration, apply_recalibration, describe, recalibrate_from_reviews
from inspector.ui.station import Station
from inspector.ui.theme import VERDICT_COLOURS
from inspector.ui.workers import OpChange, describe_error

PROPOSED = "#1f6fd1"
CURRENT = "#7a7a7a"


class RecalibrationPanel(QGroupBox):
    """Reviewed-parts statistics and a proposed threshold for the recipe in the form."""

    computed = Signal(object)  # Recalibration, after each computation (on the GUI thread)
    applied = Signal(str)  # the recipe file written

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__("Threshold from reviewed parts", parent)
        self.station = station
        self.recipe: Recipe | None = None
        self.path: Path | None = None
        self.result: Recalibration | None = None
        self.apply_step: Callable = apply_recalibration  # the one step that writes (gated by a signature)
        self._generation = 0

        self.target_kind = QComboBox()
        self.target_kind.addItem("Escape rate at most", "escape")
        self.target_kind.addItem("False-reject rate at most", "false_reject")
        self.target = QDoubleSpinBox()
        self.target.setDecimals(2)
        self.target.setRange(0.01, 50.0)
        self.target.setSuffix(" %")
        self.target.setValue(0.1)
        self.confidence = QComboBox()
        for value in (0.90, 0.95, 0.99):
            self.confidence.addItem(f"{value:.0%} confidence", value)
        self.confidence.setCurrentIndex(1)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        self.apply_button = QPushButton("Apply as new version")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        controls = QHBoxLayout()
        for w in (self.target_kind, self.target, self.confidence, self.compute_button):
            controls.addWidget(w)
        controls.addStretch(1)
        controls.addWidget(self.apply_button)

        self.roc = pg.PlotWidget(background="w")
        self.roc.setMinimumHeight(230)
        self.roc.setMaximumHeight(320)
        self.roc.setTitle("ROC of the reviewed parts", color="#222", size="10pt")
        self.roc.setLabel("bottom", "false-reject rate (good parts failed)")
        self.roc.setLabel("left", "defective parts caught")
        self.roc.setXRange(0, 1, padding=0.02)
        self.roc.setYRange(0, 1, padding=0.02)
        self.roc.addLegend(offset=(-10, -10))
        self.hist = pg.PlotWidget(background="w")
        self.hist.setMinimumHeight(230)
        self.hist.setMaximumHeight(320)
        self.hist.setTitle("Scores of the reviewed parts", color="#222", size="10pt")
        self.hist.setLabel("bottom", "anomaly score")
        self.hist.setLabel("left", "share of the class")
        self.hist.addLegend(offset=(-10, 10))  # top right; the threshold labels sit lower
        for plot in (self.roc, self.hist):
            plot.showGrid(x=True, y=True, alpha=0.15)
            for side in ("left", "bottom"):
                plot.getAxis(side).enableAutoSIPrefix(False)  # scores and shares as they are, no "x0.001"
        plots = QHBoxLayout()
        plots.addWidget(self.roc, 1)
        plots.addWidget(self.hist, 1)

        self.text = QLabel("Open a recipe to see its reviewed parts.")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setObjectName("recalibrationText")
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(plots)
        layout.addWidget(self.text)

    # -- inputs ----------------------------------------------------------------------------------------
    def set_recipe(self, recipe: Recipe | None, path: Path | None) -> None:
        """Show the reviewed parts of ``recipe`` (saved at ``path``); computed at once."""
        self.recipe, self.path = recipe, path
        self.compute()

    def targets(self) -> dict[str, float]:
        value = self.target.value() / 100.0
        kind = self.target_kind.currentData()
        return {"target_escape": value} if kind == "escape" else {"target_false_reject": value}

    # -- work off the GUI thread ----------------------------------------------------------------------
    def compute(self) -> None:
        store, recipe = self.station.store, self.recipe
        self.apply_button.setEnabled(False)
        self._generation += 1
        generation = self._generation
        if store is None or recipe is None or not recipe.name:
            self.result = None
            self._clear("Open a saved recipe to see its reviewed parts.")
            return
        targets, confidence = self.targets(), float(self.confidence.currentData())
        self.result = None  # the shown figures are being replaced: none is current until they arrive
        self.text.setText("Reading the reviewed parts…")
        self.station.tasks.submit(
            lambda: recalibrate_from_reviews(store, recipe, confidence=confidence, **targets),
            lambda rec: self._show(generation, rec),
            lambda exc: self._failed(generation, exc),
        )

    def apply(self) -> None:
        rec, path, ops = self.result, self.path, self.station.ops
        if rec is None or rec.proposal is None or ops is None:
            return
        step = self.apply_step
        if self.station.settings.require_pin:  # an engineer signs the new threshold (ui.sign_dialog)
            from inspector.ui.sign_dialog import signed_change

            new = rec.proposal.limits.threshold
            text = f"threshold {rec.recipe.threshold:.4g} -> {new:.4g} (from reviewed parts)"
            signed_change(
                self, what=f"New threshold for '{rec.recipe.name}'", store=self.station.store,
                tasks=self.station.tasks, ops=ops, operator=self.station.operator,
                prepare=lambda store: (text, True, [a.name for a in store.accounts.list()]),
                apply=lambda s, signer: step(s, rec, path, signer), on_done=self._applied,
                on_error=lambda exc: self._failed(self._generation, exc), change=OpChange("recipe"),
            )  # fmt: skip
            return
        self.apply_button.setEnabled(False)
        ops.run(
            lambda s: step(s, rec, path),
            change=OpChange("recipe"),
            on_done=lambda done: self._applied(done),
            on_error=lambda exc: self._failed(self._generation, exc),
        )

    # -- painting ---------------------------------------------------------------------------------------
    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.text.setText(describe_error(exc))

    def _applied(self, done) -> None:
        recipe, version = done
        self.text.setText(
            f"Applied: recipe '{recipe.name}' version {version.version}, threshold {recipe.threshold:.4f}."
        )
        if self.path is not None:
            self.applied.emit(str(self.path))

    def _clear(self, message: str) -> None:
        self.roc.clear()
        self.hist.clear()
        self.text.setText(message)

    def _show(self, generation: int, rec: Recalibration) -> None:
        if generation != self._generation:
            return  # another recipe or target since
        self.result = rec
        self.roc.clear()
        self.hist.clear()
        stats = rec.stats
        good, bad = np.asarray(stats.good), np.asarray(stats.defective)
        current = rec.stats.current.limits
        proposed = rec.proposal.limits if rec.proposal else None
        self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#bbbbbb", width=1, style=Qt.PenStyle.DashLine))
        if stats.roc is not None:
            self.roc.plot(
                list(stats.roc.fpr),
                list(stats.roc.tpr),
                pen=pg.mkPen("#222222", width=2),
                name=f"AUC {stats.roc.auc:.3f}",
            )
            for limits, colour, name in ((current, CURRENT, "current"), (proposed, PROPOSED, "proposed")):
                if limits is None:
                    continue
                fpr = float(np.mean(good >= limits.high)) if good.size else 0.0
                tpr = float(np.mean(bad >= limits.low)) if bad.size else 0.0
                self.roc.plot([fpr], [tpr], pen=None, symbol="o", symbolSize=11, symbolBrush=QColor(colour), name=name)
        all_scores = np.concatenate([good, bad]) if good.size + bad.size else np.empty(0)
        if all_scores.size:
            edges = np.histogram_bin_edges(all_scores, bins=30)
            for values, colour, name in (
                (good, VERDICT_COLOURS["pass"], f"good ({good.size})"),
                (bad, VERDICT_COLOURS["fail"], f"defective ({bad.size})"),
            ):
                if not values.size:
                    continue
                counts, _ = np.histogram(values, bins=edges)
                brush = QColor(colour)
                brush.setAlpha(110)
                self.hist.plot(
                    edges,
                    counts / values.size,
                    stepMode="center",
                    fillLevel=0,
                    brush=brush,
                    pen=pg.mkPen(colour, width=1.5),
                    name=name,
                )
        for limits, colour, name in ((current, CURRENT, "current"), (proposed, PROPOSED, "proposed")):
            if limits is None:
                continue
            style = Qt.PenStyle.DashLine if name == "current" else Qt.PenStyle.SolidLine
            line = pg.InfiniteLine(
                limits.threshold,
                angle=90,
                pen=pg.mkPen(colour, width=2, style=style),
                label=f"{name} {limits.threshold:.3g}",
                labelOpts={
                    "position": 0.6 if name == "current" else 0.5,
                    "color": colour,
                    "fill": (255, 255, 255, 200),
                },
            )
            self.hist.addItem(line)
            if limits.band is not None and name == "proposed":
                region = pg.LinearRegionItem(
                    values=limits.band, movable=False, brush=pg.mkBrush(31, 111, 209, 35), pen=pg.mkPen(None)
                )
                self.hist.addItem(region)
        self.text.setText("\n".join(describe(rec)))
        self.apply_button.setEnabled(rec.proposal is not None and self.path is not None)
        self.computed.emit(rec)
