"""The Recipes screen's "Captions from reviews" panel: LoRA fine-tuning of the captioner as a job.

How many of the recipe's parts have an operator-corrected caption is read on a worker thread; the
training (:func:`inspector.captioning.lora.train_from_reviews`) runs as a :class:`~inspector.ui.workers.Job`
with progress and cancel, and waits at each step while a part is being scored (the running
inspection's scoring gate). Cancel writes nothing. When it has finished, the held-out BLEU-4 /
ROUGE-L / CIDEr-D before and after are shown, and "Select for this recipe" puts the new captioner
version into the recipe form (Save records it as a new recipe version).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from inspector.core.recipe import load_recipe
from inspector.ui.training_job_panel import TrainingJobPanel, before_after_grid
from inspector.ui.workers import Job

CAPTIONERS = ("blip-base", "blip2-opt-2.7b")
SCORES = (("BLEU-4", "bleu4"), ("ROUGE-L", "rouge_l"), ("CIDEr-D", "cider"))


class CaptionTrainingPanel(TrainingJobPanel):
    """Corrected captions of the recipe, a Train / Cancel pair, progress, and the before/after scores."""

    trained = Signal(str)  # the new captioner version's folder
    selected = Signal(str)

    def __init__(self, store_path=None, gate=None, random_weights: bool = False, device: str = "auto", parent=None):
        super().__init__(store_path, gate, random_weights, device, parent)
        self.recipe_name: str | None = None
        self.corrected = 0
        self.options = None  # LoraOptions (None: the defaults with this panel's epochs and rank)
        self.out_dir: Path | None = None

        self.count = QLabel("No recipe")
        self.count.setWordWrap(True)
        self.current = QLabel("")  # which captioner the recipe's parts are captioned with
        self.current.setObjectName("muted")
        self.current.setWordWrap(True)
        self.captioner = QComboBox()
        self.captioner.addItems(CAPTIONERS)
        self.captioner.setToolTip("BLIP base trains on a CPU station; BLIP-2 needs a GPU")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100)
        self.epochs.setValue(5)
        self.epochs.setPrefix("epochs ")
        self.rank = QSpinBox()
        self.rank.setRange(1, 64)
        self.rank.setValue(8)
        self.rank.setPrefix("rank ")
        self.rank.setToolTip("LoRA rank r (alpha = r, adapters on the attention's query and value)")
        self.train_button = QPushButton("Train captioner")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.select_button = QPushButton("Select for this recipe")
        self.select_button.setToolTip("Caption this recipe's parts with the new version (Save records it)")
        self.select_button.clicked.connect(self._select)
        scores, self.cells = before_after_grid("held-out", SCORES, "10.000")

        run = QHBoxLayout()
        for widget in (self.captioner, self.epochs, self.rank, self.train_button, self.cancel_button):
            run.addWidget(widget)
        run.addWidget(self.progress, 1)
        result = QHBoxLayout()
        result.addWidget(scores)
        right = QVBoxLayout()
        right.addWidget(self.status, 1)
        right.addWidget(self.select_button, 0, Qt.AlignmentFlag.AlignLeft)
        result.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count)
        layout.addWidget(self.current)
        layout.addLayout(run)
        layout.addLayout(result)
        self._set_enabled()

    def place_in(self, layout, editor) -> None:
        """Put the panel in the Recipes screen (a group box at the end of ``layout``) and wire it up."""
        self._box_in(layout, "Captions from reviews (LoRA)")
        self.selected.connect(lambda folder: self._select_in(editor, folder))

    def _select_in(self, editor, folder: str) -> None:
        if getattr(editor, "loaded", None) is None:
            return
        editor.loaded = replace(editor.loaded, captioner_version=folder)
        self.show_current(folder, saved=False)
        editor.messages.show_message(
            f"Captioner version {Path(folder).name} selected: Save the recipe to record it.", "info"
        )

    def show_current(self, version: str, saved: bool = True) -> None:
        """Say which captioner version the recipe selects (or that it uses the station's captioner)."""
        if not version:
            self.current.setText("Captions with the station's captioner (Settings); no trained version selected.")
            return
        from inspector.core.captioner_version import CaptionerVersionError, read_version

        try:
            name = read_version(version).id
        except CaptionerVersionError as error:
            name = f"{Path(version).name} (not usable: {error})"
        self.current.setText(f"Captions with the trained version {name}" + ("" if saved else " — Save to record it."))

    # -- the recipe's corrected captions -------------------------------------------------------
    def set_recipe(self, path: str | Path | None) -> None:
        """Count the recipe's corrected captions (on a worker thread); None: no saved recipe yet."""
        if path is None:
            self.recipe_name, self.corrected, self.shown_path = None, 0, None
            self.count.setText("Save the recipe to train its captioner.")
            self.current.setText("")
            self._set_enabled()
            return
        recipe = load_recipe(path)
        self.recipe_name, self.shown_path = recipe.name, path
        self.show_current(recipe.captioner_version)
        name = self.recipe_name
        self.count.setText("Counting corrected captions ...")

        def count(_progress) -> int:
            from inspector.store import InspectionFilter

            with self.reading_store() as store:
                return 0 if store is None else len(store.corrected_records(InspectionFilter(recipe_name=name)))

        job = Job(count, name="inspector-caption-count", parent=self)
        job.finished.connect(lambda n, name=name: self._counted(name, int(n)))
        job.failed.connect(lambda message, _exc: self.count.setText(f"The corrections cannot be read: {message}"))
        job.start()

    def _counted(self, name: str, n: int) -> None:
        if name != self.recipe_name:
            return
        from inspector.captioning.lora import MIN_EXAMPLES

        self.corrected = n
        more = "" if n >= MIN_EXAMPLES else f"; at least {MIN_EXAMPLES} are needed (correct captions in Review)"
        self.count.setText(f"{n} parts of '{name}' have an operator-corrected caption{more}.")
        self._set_enabled()

    # -- training ----------------------------------------------------------------------------
    def start_training(self) -> None:
        if self._job is not None or self.recipe_name is None or self.store_path is None:
            return
        from inspector.captioning.lora import DEFAULTS, train_from_reviews
        from inspector.training.job import GatedProgress

        options = self.options or replace(DEFAULTS, epochs=self.epochs.value(), rank=self.rank.value())
        name, store_path, captioner = self.recipe_name, self.store_path, self.captioner.currentText()
        gate = self._scoring_gate()
        settings = {"device": self.device, "random_weights": self.random_weights, "out_dir": self.out_dir}

        def run(progress):
            from inspector.store import open_store

            gated = GatedProgress(progress.report, gate, parent=progress)
            with open_store(store_path) as store:
                return train_from_reviews(
                    store, captioner=captioner, recipe_name=name, options=options, progress=gated, **settings
                )

        self.last_outcome = None
        self._show_scores(None)
        self.status.setText(f"Training {captioner} on the corrected captions of '{name}' ...")
        self._start_job(run, "inspector-train-captioner", "no captioner version was written.")

    def _on_finished(self, outcome) -> None:
        from inspector.captioning.lora import format_outcome

        self.last_outcome = outcome
        self._show_scores(outcome)
        self._done(format_outcome(outcome))
        self.trained.emit(str(outcome.folder))

    def _done(self, text: str) -> None:
        self._job = None
        self.status.setText(text)
        self.progress.setValue(self.progress.maximum() if self.last_outcome is not None else 0)
        self._set_enabled()

    def _show_scores(self, outcome) -> None:
        for (when, key), cell in self.cells.items():
            scores = getattr(outcome, when, None) if outcome is not None else None
            cell.setText(f"{getattr(scores, key):.3f}" if scores is not None else "—")

    def _select(self) -> None:
        if self.last_outcome is not None:
            self.selected.emit(str(self.last_outcome.folder))

    def _set_enabled(self) -> None:
        from inspector.captioning.lora import MIN_EXAMPLES

        running = self._job is not None
        self.train_button.setEnabled(not running and self.recipe_name is not None and self.corrected >= MIN_EXAMPLES)
        self.cancel_button.setEnabled(running)
        for widget in (self.captioner, self.epochs, self.rank):
            widget.setEnabled(not running)
        self.select_button.setEnabled(not running and self.last_outcome is not None)
