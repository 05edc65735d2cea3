"""What the Recipes screen's two training panels share (:mod:`inspector.ui.train_panel`,
:mod:`inspector.ui.caption_training_panel`): the station's database, device, weights and scoring gate;
one training :class:`~inspector.ui.workers.Job` at a time with progress and cancel; a group box in the
Recipes screen; a grid of held-out scores before and after."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from inspector.ui.workers import Job


def station_scoring_gate(station):
    """The station session's scoring gate (its caption scheduler's), or None when captions are off."""
    session = station.session
    captions = session.captions if session is not None else None
    return captions.gate if captions is not None else None


def before_after_grid(
    head: str, rows: Sequence[tuple[str, str]], widest: str
) -> tuple[QWidget, dict[tuple[str, str], QLabel]]:
    """A grid of scores: a row per ``(label, key)``, columns before / after, each cell "—" and at least
    as wide as ``widest``; the widget and its cells by ``(when, key)``."""
    widget = QWidget()
    grid = QGridLayout(widget)
    grid.setContentsMargins(0, 0, 12, 0)
    for col, text in enumerate((head, "before", "after")):
        grid.addWidget(QLabel(text), 0, col)
    cells: dict[tuple[str, str], QLabel] = {}
    for row, (label, key) in enumerate(rows, start=1):
        grid.addWidget(QLabel(label), row, 0)
        for col, when in enumerate(("before", "after"), start=1):
            cell = QLabel("—")
            cell.setMinimumWidth(cell.fontMetrics().horizontalAdvance(widest))
            cell.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(cell, row, col)
            cells[(when, key)] = cell
    return widget, cells


class TrainingJobPanel(QWidget):
    """A panel that runs one training job at a time for the station.

    Args:
        store_path: The station's database.
        gate: The pipeline's scoring gate (training yields to scoring), a callable returning it at the
            start of each training (the window's: it exists only while an inspection runs), or None.
        random_weights: Train on random weights (tests, demos; marked so everywhere).
        device: Where the training runs.

    A subclass makes ``self.progress`` (a :class:`QProgressBar`) and ``self.status`` (a label), and has
    ``_on_finished(outcome)``, ``_done(text)`` and ``_set_enabled()``.
    """

    progress: QProgressBar
    status: QLabel

    @classmethod
    def for_station(cls, station, parent=None):
        """The panel as the Recipes screen places it: the station's database, device and scoring gate."""
        panel = cls(
            store_path=station.settings.database_path,
            gate=lambda: station_scoring_gate(station),
            random_weights=station.random_weights,
            device=station.settings.device,
            parent=parent,
        )
        panel.store_of = lambda: station.store  # reads go through the session's store, once it is open
        return panel

    def __init__(self, store_path=None, gate=None, random_weights: bool = False, device: str = "auto", parent=None):
        super().__init__(parent)
        self.store_path, self.gate = store_path, gate
        self.store_of: Callable[[], Any] | None = None
        self.shown_path: str | Path | None = None  # the recipe set_recipe last showed
        self.random_weights, self.device = random_weights, device
        self.last_outcome = None
        self._job: Job | None = None
        self._started = 0.0

    @contextlib.contextmanager
    def reading_store(self) -> Iterator[Any]:
        """The store a panel's reads use (on a worker thread): the station session's, None until the
        session has opened the database (a second connection opening it meanwhile could keep it locked
        past the session's busy timeout); a panel on its own opens an existing database itself."""
        if self.store_of is not None:
            yield self.store_of()
            return
        if self.store_path is None or not Path(self.store_path).is_file():
            yield None
            return
        from inspector.store import open_store

        with open_store(self.store_path) as store:
            yield store

    def refresh(self) -> None:
        """Read the shown recipe again (the window calls this once its database is open)."""
        self.set_recipe(self.shown_path)

    def set_recipe(self, path: str | Path | None) -> None:  # pragma: no cover - each panel has its own
        raise NotImplementedError

    def _box_in(self, layout, title: str) -> None:
        """Put the panel in a group box titled ``title`` at the end of ``layout``."""
        box = QGroupBox(title)
        QVBoxLayout(box).addWidget(self)
        layout.addWidget(box)

    def _scoring_gate(self):
        return self.gate() if callable(self.gate) else self.gate

    def _start_job(self, run: Callable, name: str, nothing_written: str) -> None:
        """Run ``run(progress)`` as the panel's job; cancel says ``Cancelled: <nothing_written>``."""
        self._started = time.monotonic()
        self._job = Job(run, name=name, parent=self)
        self._job.progress.connect(self._on_progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(lambda message, _exc: self._done(f"Training failed: {message}"))
        self._job.cancelled.connect(lambda: self._done(f"Cancelled: {nothing_written}"))
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
        self.status.setText(self._progress_text(done, total, message))

    def _progress_text(self, done: int, total: int, message: str) -> str:
        return message

    def _on_finished(self, outcome) -> None:
        raise NotImplementedError

    def _done(self, text: str) -> None:
        raise NotImplementedError

    def _set_enabled(self) -> None:
        raise NotImplementedError
