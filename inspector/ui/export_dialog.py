"""Export a report (PDF, HTML, CSV) or a dataset (MVTec AD layout) from the station window.

The dialog only collects the scope and the options; the export itself is the plain function of
:mod:`inspector.reports` run as a :class:`~inspector.ui.workers.Job` (its own thread, throttled
progress, cancel). Errors come back as a message in the dialog; the window never waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.station import Station
from inspector.ui.workers import Job

ANY_RECIPE = "(any recipe)"
ERROR_STYLE = "color: #d93025; font-weight: 600;"
OK_STYLE = "color: #14622b; font-weight: 600;"


def _day_start(day: QDate) -> datetime:
    """Local midnight at the start of ``day``, time-zone aware."""
    return datetime.combine(day.toPython(), time.min).astimezone()


class ExportDialog(QDialog):
    """Scope + kind + output folder, then Export; ``done_files`` lists what the last export wrote."""

    export_finished = Signal(object)  # list[Path]
    export_failed = Signal(str)

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report / dataset")
        self.setModal(False)
        self.setMinimumWidth(600)
        self.station = station
        self.job: Job | None = None
        self.done_files: list[Path] = []

        # -- scope
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addDays(-7))
        self.date_to = QDateEdit(today)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        dates = QHBoxLayout()
        dates.addWidget(self.date_from, 1)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to, 1)
        self.recipe = QComboBox()
        self.recipe.addItem(ANY_RECIPE)
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("any lot")
        scope_box = QGroupBox("What to include")
        scope_form = QFormLayout(scope_box)
        scope_form.addRow("Period (days, inclusive)", dates)
        scope_form.addRow("Recipe", self.recipe)
        scope_form.addRow("Lot", self.lot)

        # -- kind
        self.kind_report = QRadioButton("Report")
        self.kind_dataset = QRadioButton("Dataset (MVTec AD layout, labels from review)")
        self.kind_report.setChecked(True)
        self._kinds = QButtonGroup(self)
        self._kinds.addButton(self.kind_report)
        self._kinds.addButton(self.kind_dataset)
        self.formats = {f: QCheckBox(f.upper()) for f in ("pdf", "html", "csv")}
        for box in self.formats.values():
            box.setChecked(True)
        self.paper = QComboBox()
        self.paper.addItem("A4", "a4")
        self.paper.addItem("Letter", "letter")
        report_row = QHBoxLayout()
        for box in self.formats.values():
            report_row.addWidget(box)
        report_row.addSpacing(16)
        report_row.addWidget(QLabel("Paper"))
        report_row.addWidget(self.paper)
        report_row.addStretch(1)
        self.report_options = QWidget()
        self.report_options.setLayout(report_row)
        self.uncertain = QComboBox()
        self.uncertain.addItem("leave out parts still uncertain", "exclude")
        self.uncertain.addItem("copy uncertain parts to <category>/uncertain", "aside")
        self.include_unreviewed = QCheckBox("Also parts nobody reviewed (model verdict)")
        self.dataset_options = QWidget()
        dataset_row = QFormLayout(self.dataset_options)
        dataset_row.addRow("Uncertain", self.uncertain)
        dataset_row.addRow("", self.include_unreviewed)
        self.overlays = QCheckBox("Also heatmap overlays (PNG, as the station shows them)")
        dataset_row.addRow("", self.overlays)
        for layout in (report_row, dataset_row):
            layout.setContentsMargins(24, 0, 0, 0)
        kind_box = QGroupBox("Export")
        kind_layout = QVBoxLayout(kind_box)
        kind_layout.addWidget(self.kind_report)
        kind_layout.addWidget(self.report_options)
        kind_layout.addWidget(self.kind_dataset)
        kind_layout.addWidget(self.dataset_options)
        self.kind_report.toggled.connect(self._kind_changed)

        # -- output
        self.folder = QLineEdit(str(Path.home()))
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._choose_folder)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output folder"))
        out_row.addWidget(self.folder, 1)
        out_row.addWidget(self.browse)

        # -- progress, result, buttons
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Choose what to export, then Export.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(scope_box)
        layout.addWidget(kind_box)
        layout.addLayout(out_row)
        layout.addWidget(self.progress)
        # the list of written files scrolls: it never squeezes the options above it
        self.status_scroll = QScrollArea()
        self.status_scroll.setWidget(self.status)
        self.status_scroll.setWidgetResizable(True)
        self.status_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.status_scroll.setMinimumHeight(self.status.fontMetrics().lineSpacing() * 2 + 8)
        self.status_scroll.setMaximumHeight(self.status.fontMetrics().lineSpacing() * 6 + 8)
        layout.addWidget(self.status_scroll)
        layout.addLayout(buttons)
        for box in (scope_box, kind_box):
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._inputs = (scope_box, kind_box, self.folder, self.browse)
        self._kind_changed()
        self._load_recipes()

    # -- inputs -------------------------------------------------------------------------------------------
    def _load_recipes(self) -> None:
        store = self.station.store
        if store is None or self.station.tasks is None:
            return
        self.station.tasks.submit(store.recipe_names, self._set_recipes, lambda _exc: None)

    def _set_recipes(self, names: list[str]) -> None:
        current = self.recipe.currentText()
        self.recipe.clear()
        self.recipe.addItem(ANY_RECIPE)
        self.recipe.addItems(names)
        self.recipe.setCurrentText(current)

    def _kind_changed(self, *_args: Any) -> None:
        report = self.kind_report.isChecked()
        self.report_options.setEnabled(report)
        self.dataset_options.setEnabled(not report)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def set_formats(self, *formats: str) -> None:
        for name, box in self.formats.items():
            box.setChecked(name in formats)

    def scope(self):
        """The :class:`~inspector.reports.ReportScope` the inputs describe (raises ReportError)."""
        from inspector.reports import ReportScope

        recipe = self.recipe.currentText()
        return ReportScope(
            since=_day_start(self.date_from.date()),
            until=_day_start(self.date_to.date().addDays(1)),
            recipe_name=None if recipe in ("", ANY_RECIPE) else recipe,
            lot=self.lot.text().strip() or None,
        )

    # -- running -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self) -> None:
        """Check the inputs here (cheap), then run the export on a worker thread."""
        from inspector.errors import InspectorError

        if self.running:
            return
        store = self.station.store
        if store is None:
            self._show_error("The inspection database is not open yet.")
            return
        folder_text = self.folder.text().strip()
        if not folder_text:
            self._show_error("Choose an output folder.")
            return
        folder = Path(folder_text).expanduser()
        try:
            scope = self.scope()
            fn = (
                self._report_fn(store, scope, folder)
                if self.kind_report.isChecked()
                else self._dataset_fn(store, scope, folder)
            )
        except InspectorError as error:
            self._show_error(str(error))
            return
        self.done_files = []
        self._set_running(True)
        self.status.setStyleSheet("")
        self.status.setText("Starting …")
        self.progress.setRange(0, 0)
        self.job = Job(fn, name="inspector-export", parent=self)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(lambda message, _exc: self._show_error(message))
        self.job.cancelled.connect(lambda: self._show_error("Export cancelled; no half-written file was left."))
        self.job.start()

    def _report_fn(self, store, scope, folder: Path):
        from inspector.reports import default_outputs, export_report

        formats = [name for name, box in self.formats.items() if box.isChecked()]
        outputs = default_outputs(folder, scope, formats)  # raises ReportError when none is chosen
        paper = self.paper.currentData()

        def run(progress) -> list[Path]:
            return list(export_report(store, scope, outputs, paper=paper, progress=progress).files.values())

        return run

    def _dataset_fn(self, store, scope, folder: Path):
        from inspector.reports import DatasetOptions, export_dataset

        options = DatasetOptions(
            uncertain=self.uncertain.currentData(),
            include_unreviewed=self.include_unreviewed.isChecked(),
            overlays=self.overlays.isChecked(),
        )
        out = folder / f"dataset_{datetime.now(UTC).astimezone():%Y%m%d-%H%M%S}"

        def run(progress) -> list[Path]:
            result = export_dataset(store, scope, out, options, progress=progress)
            return [result.root, result.manifest]

        return run

    def _progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.status.setText(f"{message or 'Working'}: {done:,} / {total:,}")
        else:
            self.progress.setRange(0, 0)
            self.status.setText(message or "Working …")

    def _finished(self, files: list[Path]) -> None:
        self.job = None
        self._set_running(False)
        self.done_files = [Path(f) for f in files]
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.status.setStyleSheet(OK_STYLE)
        self.status.setText("Written:\n" + "\n".join(str(f) for f in self.done_files))
        self.export_finished.emit(self.done_files)

    def _show_error(self, message: str) -> None:
        self.job = None
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(message)
        self.export_failed.emit(message)

    def _set_running(self, running: bool) -> None:
        for widget in self._inputs:
            widget.setEnabled(not running)
        self.export_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def cancel(self) -> None:
        """Ask the export to stop (it checks between parts); the dialog stays usable meanwhile."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling …")

    def closeEvent(self, event) -> None:  # noqa: N802
        self.cancel()  # the job ends by itself at its next check; it holds no window state
        super().closeEvent(event)
