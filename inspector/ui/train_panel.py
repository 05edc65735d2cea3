"""The Recipes screen's Train panel: the good-part library and a training job (a widget of its own).

The library (thumbnails, count per origin, where each part came from) and the training run on worker
threads (:class:`~inspector.ui.workers.Job`); the GUI thread only paints. The training waits at each
step while a part is being scored when the window gives it the scoring gate, so it never slows a
running inspection. Cancel leaves no new recipe version. The panel emits ``trained(path)`` with the
new recipe file, then shows the before/after held-out metrics and the gate
(:mod:`inspector.core.training_gate`); "Use this version" is offered only when the gate passes and
emits ``adopted(path)`` (the Recipes screen opens that version).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
)

from inspector.core.recipe import TRAINED_DETECTORS, load_recipe, save_recipe
from inspector.core.training_gate import GateResult
from inspector.ui.theme import VERDICT_COLOURS
from inspector.ui.training_job_panel import TrainingJobPanel, before_after_grid
from inspector.ui.workers import Job

THUMB = 72


def _eta(started: float, done: int, total: int) -> str:
    if done <= 0 or total <= 0 or done >= total:
        return ""
    left = (time.monotonic() - started) / done * (total - done)
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


METRIC_ROWS = (("I-AUROC", "image_auroc"), ("P-AUROC", "pixel_auroc"), ("AUPRO", "aupro"), ("F1-max", "f1_max"))


def _pct(held, key: str) -> str:
    if held is None:
        return "—"
    value = getattr(held.metrics, key)
    return "n/a" if value != value else f"{100 * value:.1f}"


class TrainPanel(TrainingJobPanel):
    """Good-part library + train button for one recipe file (arguments: see :class:`TrainingJobPanel`;
    ``store_path``: the database to take reviewed good parts from, None: references only)."""

    trained = Signal(str)
    adopted = Signal(str)  # "Use this version": the gate passed and the engineer chose it
    library_loaded = Signal(int)
    library_changed = Signal(str)  # the recipe file was rewritten (a part removed from the library)

    def __init__(self, store_path=None, gate=None, random_weights: bool = False, device: str = "auto", parent=None):
        super().__init__(store_path, gate, random_weights, device, parent)
        self.recipe_path: Path | None = None
        self.library = None
        self.gate_tolerance = 0.0  # see inspector.core.training_gate (``inspector train --gate-tolerance``)

        self.count = QLabel("No recipe")
        self.parts = QListWidget()
        self.parts.setViewMode(QListWidget.ViewMode.IconMode)
        self.parts.setIconSize(QSize(THUMB, THUMB))
        self.parts.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.parts.setMinimumHeight(2 * THUMB + 40)
        self.remove = QPushButton("Remove from library")
        self.remove.setToolTip("Never learn from this part again (the part stays in the database)")
        self.remove.clicked.connect(self._remove_selected)
        self.method = QComboBox()
        for name in TRAINED_DETECTORS:
            self.method.addItem(name, name)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        status_area = QScrollArea()
        status_area.setWidgetResizable(True)
        status_area.setWidget(self.status)
        status_area.setMinimumHeight(110)
        # held-out metrics before / after, a row each
        self.metrics, self.metric_cells = before_after_grid("held-out %", METRIC_ROWS, "100.00")
        self.gate_label = QLabel("")
        self.gate_label.setWordWrap(True)
        self.gate_reasons = QLabel("")
        self.gate_reasons.setWordWrap(True)
        self.gate_reasons.setMinimumHeight(4 * self.gate_reasons.fontMetrics().lineSpacing())
        self.gate_reasons.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.use_button = QPushButton("Use this version")
        self.use_button.setToolTip("Open the trained recipe version (offered only when its gate passed)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._adopt)

        top = QHBoxLayout()
        top.addWidget(self.count, 1)
        top.addWidget(self.remove)
        run = QHBoxLayout()
        run.addWidget(QLabel("Method"))
        run.addWidget(self.method)
        run.addWidget(self.train_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.parts.setMaximumHeight(2 * THUMB + 64)  # two rows of thumbnails; more scroll
        layout.addWidget(self.parts)
        layout.addLayout(run)
        result = QHBoxLayout()
        result.addWidget(self.metrics)
        gate_col = QVBoxLayout()
        gate_col.addWidget(self.gate_label)
        gate_col.addWidget(self.gate_reasons)
        gate_col.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)
        gate_col.addStretch(1)
        result.addLayout(gate_col, 1)
        layout.addLayout(result)
        layout.addWidget(status_area, 1)
        self._set_enabled()

    def place_in(self, layout, editor) -> None:
        """Put the panel in the Recipes screen (a group box at the end of ``layout``) and wire it up:
        a trained version appears in the recipe list, "Use this version" opens it, and a part removed
        from the library is kept in the form's recipe."""
        self._box_in(layout, "Train from the good parts")
        self.trained.connect(lambda _path: editor.reload_list(select=str(editor.path or "")))
        self.adopted.connect(lambda path: self._open_in(editor, Path(path)))
        self.library_changed.connect(lambda path: self._keep_exclusions(editor, Path(path)))

    @staticmethod
    def _open_in(editor, path: Path) -> None:
        if editor.open_path(path):
            editor.reload_list(select=str(path))
            editor.messages.show_message(f"{path.name} is open: the trained version; Save to record it.", "info")
            editor.recipes_changed.emit(str(path))

    @staticmethod
    def _keep_exclusions(editor, path: Path) -> None:
        if editor.path is not None and Path(editor.path) == path:
            editor.loaded = replace(editor.loaded, library_excluded=load_recipe(path).library_excluded)

    # -- library ------------------------------------------------------------------------------
    def set_recipe(self, path: str | Path | None) -> None:
        """Show this recipe's library (read on a worker thread); None: no saved recipe yet."""
        if path is None:
            self.recipe_path = self.library = self.shown_path = None
            self.parts.clear()
            self.count.setText("Save the recipe to train from its good parts.")
            self._set_enabled()
            return
        self.recipe_path = self.shown_path = Path(path)
        self.count.setText("Reading the good-part library ...")

        def read(progress):
            from inspector.training.library import build_library

            recipe = load_recipe(self.recipe_path)
            with self.reading_store() as store:
                return build_library(recipe, store)

        job = Job(read, name="inspector-library", parent=self)
        job.finished.connect(lambda library, path=self.recipe_path: self._show_library(library, path))
        job.failed.connect(lambda message, _exc: self.count.setText(message))
        job.start()
        self._library_job = job

    def _show_library(self, library, path: Path | None = None) -> None:
        if path is not None and path != self.recipe_path:
            return  # another recipe was opened meanwhile
        self.library = library
        self.parts.clear()
        for part in library.parts:
            item = QListWidgetItem(QIcon(self._thumb(part)), str(part.origin))
            item.setData(Qt.ItemDataRole.UserRole, part.content_hash)
            item.setToolTip(
                f"{part.path}\n{part.origin}" + (f", reviewed by {part.reviewed_by}" if part.reviewed_by else "")
            )
            self.parts.addItem(item)
        counts = ", ".join(f"{v} {k}" for k, v in library.counts().items()) or "none"
        self.count.setText(f"{len(library.parts)} good parts ({counts})")
        self._set_enabled()
        self.library_loaded.emit(len(library.parts))

    @staticmethod
    def _thumb(part) -> QPixmap:
        pixmap = QPixmap(part.thumbnail or part.path)
        return pixmap.scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )

    def _remove_selected(self) -> None:
        from inspector.training.library import remove_from_library

        items = self.parts.selectedItems()
        if not items or self.recipe_path is None:
            return
        recipe = load_recipe(self.recipe_path)
        for item in items:
            recipe = remove_from_library(recipe, item.data(Qt.ItemDataRole.UserRole))
        save_recipe(recipe, self.recipe_path)
        self.library_changed.emit(str(self.recipe_path))
        self.set_recipe(self.recipe_path)

    # -- training -----------------------------------------------------------------------------
    def start_training(self) -> None:
        if self.recipe_path is None or self.library is None or self._job is not None:
            return
        from inspector.training.job import GatedProgress, default_output, train_recipe

        method = self.method.currentData()
        gate = self._scoring_gate()
        recipe_path, library = self.recipe_path, self.library
        out = default_output(recipe_path, method)
        options = {"device": self.device, "random_weights": self.random_weights, "gate_tolerance": self.gate_tolerance}

        def run(progress):
            gated = GatedProgress(progress.report, gate, parent=progress)
            return train_recipe(load_recipe(recipe_path), method, library, out, progress=gated, **options)

        self.status.setText(f"Training {method} on {len(library.parts)} good parts ...")
        self.last_outcome = None
        self._show_metrics(None, None)
        self._show_gate(None)
        self._start_job(run, "inspector-train", "no recipe version was written.")

    def _progress_text(self, done: int, total: int, message: str) -> str:
        return f"{message}{_eta(self._started, done, total)}"

    def _on_finished(self, outcome) -> None:
        from inspector.training.cli import format_outcome

        self.last_outcome = outcome
        self._done(format_outcome(outcome))
        self._show_metrics(outcome.before, outcome.after)
        self._show_gate(outcome.gate)
        self.trained.emit(str(outcome.recipe_path))

    def _show_metrics(self, before, after) -> None:
        for (when, key), cell in self.metric_cells.items():
            cell.setText(_pct(before if when == "before" else after, key))

    def metrics_text(self) -> str:
        """The metrics grid as text (one row per metric: name, before, after)."""
        return "\n".join(
            f"{label} {self.metric_cells[('before', key)].text()} {self.metric_cells[('after', key)].text()}"
            for label, key in METRIC_ROWS
        )

    def _show_gate(self, gate: GateResult | None) -> None:
        if gate is None:
            self.gate_label.setText("")
            self.gate_reasons.setText("")
            return
        colour = VERDICT_COLOURS["pass" if gate.passed else "fail"]
        head = "Gate passed: this version may be used" if gate.passed else "Gate NOT passed: not offered for use"
        self.gate_label.setText(head)
        self.gate_label.setStyleSheet(f"color: {colour}; font-weight: bold")
        self.gate_reasons.setText("\n".join(gate.reasons))
        self._set_enabled()

    @property
    def gate_passed(self) -> bool:
        o = self.last_outcome
        return o is not None and o.gate is not None and o.gate.passed

    def _adopt(self) -> None:
        if self.gate_passed:
            self.adopted.emit(str(self.last_outcome.recipe_path))

    def _done(self, text: str) -> None:
        self._job = None
        self.status.setText(text)
        self._set_enabled()

    def _set_enabled(self) -> None:
        idle = self._job is None
        has_parts = self.library is not None and bool(self.library.parts)
        self.train_button.setEnabled(idle and has_parts)
        self.method.setEnabled(idle)
        self.remove.setEnabled(idle and has_parts)
        self.cancel_button.setEnabled(not idle)
        self.use_button.setEnabled(idle and self.gate_passed)
