"""The Recipes screen's Train panel: the good-part library and a training job (a widget of its own).

The library (thumbnails, count per origin, where each part came from) and the training run on worker
threads (:class:`~inspector.ui.workers.Job`); the GUI thread only paints. The training waits at each
step while a part is being scored when the window gives it the scoring gate, so it never slows a
running inspection. Cancel leaves no new recipe version. The panel emits ``trained(path)`` with the
new recipe file.
"""

from __future__ import annotations

import time
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
    QWidget,
)

from inspector.core.recipe import TRAINED_DETECTORS, load_recipe, save_recipe
from inspector.ui.workers import Job

THUMB = 72


def _eta(started: float, done: int, total: int) -> str:
    if done <= 0 or total <= 0 or done >= total:
        return ""
    left = (time.monotonic() - started) / done * (total - done)
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


class TrainPanel(QWidget):
    """Good-part library + train button for one recipe file.

    Args:
        store_path: Database to take reviewed good parts from (None: references only).
        gate: The pipeline's scoring gate (training yields to scoring), or None.
        random_weights: Train on random weights (tests, demos; marked so everywhere).
    """

    trained = Signal(str)
    library_loaded = Signal(int)

    def __init__(self, store_path=None, gate=None, random_weights: bool = False, device: str = "auto", parent=None):
        super().__init__(parent)
        self.store_path = store_path
        self.gate = gate
        self.random_weights = random_weights
        self.device = device
        self.recipe_path: Path | None = None
        self.library = None
        self._job: Job | None = None
        self._started = 0.0

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
        layout.addWidget(self.parts, 1)
        layout.addLayout(run)
        layout.addWidget(status_area)
        self._set_enabled()

    # -- library ------------------------------------------------------------------------------
    def set_recipe(self, path: str | Path) -> None:
        """Show this recipe's library (read on a worker thread)."""
        self.recipe_path = Path(path)
        self.count.setText("Reading the good-part library ...")
        store_path = self.store_path

        def read(progress):
            from inspector.training.library import build_library

            recipe = load_recipe(self.recipe_path)
            store = None
            if store_path is not None:
                from inspector.store import open_store

                store = open_store(store_path)
            try:
                return build_library(recipe, store)
            finally:
                if store is not None:
                    store.close()

        job = Job(read, name="inspector-library", parent=self)
        job.finished.connect(self._show_library)
        job.failed.connect(lambda message, _exc: self.count.setText(message))
        job.start()
        self._library_job = job

    def _show_library(self, library) -> None:
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
        self.set_recipe(self.recipe_path)

    # -- training -----------------------------------------------------------------------------
    def start_training(self) -> None:
        if self.recipe_path is None or self.library is None or self._job is not None:
            return
        from inspector.training.job import GatedProgress, default_output, train_recipe

        method = self.method.currentData()
        recipe_path, library, gate = self.recipe_path, self.library, self.gate
        out = default_output(recipe_path, method)
        options = {"device": self.device, "random_weights": self.random_weights}

        def run(progress):
            gated = GatedProgress(progress.report, gate, parent=progress)
            return train_recipe(load_recipe(recipe_path), method, library, out, progress=gated, **options)

        self._started = time.monotonic()
        self._job = Job(run, name="inspector-train", parent=self)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(lambda message, _exc: self._done(f"Training failed: {message}"))
        self._job.cancelled.connect(lambda: self._done("Cancelled: no recipe version was written."))
        self.status.setText(f"Training {method} on {len(library.parts)} good parts ...")
        self._job.start()
        self._set_enabled()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.setText("Cancelling ...")

    @property
    def running(self) -> bool:
        return self._job is not None

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.status.setText(f"{message}{_eta(self._started, done, total)}")

    def _on_finished(self, outcome) -> None:
        from inspector.training.cli import format_outcome

        self._done(format_outcome(outcome))
        self.trained.emit(str(outcome.recipe_path))

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
