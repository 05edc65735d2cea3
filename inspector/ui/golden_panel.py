"""The Recipes screen's "Golden parts" panel: register known parts, check them now, see the last check.

Registering and removing are signed changes (:mod:`inspector.ui.sign_dialog`, the rule in
:mod:`inspector.store.changes`); the check is :func:`inspector.pipeline.golden.check_golden_parts`,
the one every run start calls, run here on its own thread (the model loads there, never on the
GUI thread). The recipe's ``golden_policy`` (block / warn) is chosen here and saved with the recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.images import IMAGE_SUFFIXES
from inspector.core.precision import model_dtype
from inspector.core.recipe import Recipe, load_recipe
from inspector.ui.sign_dialog import signed_change
from inspector.ui.station import Station
from inspector.ui.workers import Job, OpChange, describe_error

POLICY_LABELS = {"block": "Refuse to start", "warn": "Warn and start"}


class GoldenPanel(QGroupBox):
    """Golden parts of the recipe in the form (``recipe_path()``: its saved file, or None)."""

    def __init__(
        self, station: Station, recipe_path: Callable[[], Path | None], show: Callable[[str, str], None],
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__("Golden parts", parent)
        self.station = station
        self._recipe_path = recipe_path
        self._show = show
        self.name = ""
        self.parts: list[Any] = []
        self.job: Job | None = None
        self.outcome: Any = None
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["File", "Must be", "Registered by"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(90)
        self.table.setMaximumHeight(150)
        self.policy = QComboBox()
        for key, text in POLICY_LABELS.items():
            self.policy.addItem(text, key)
        self.add_good = QPushButton("Add good…")
        self.add_defective = QPushButton("Add defective…")
        self.remove = QPushButton("Remove")
        self.check_button = QPushButton("Check golden parts")
        self.status = QLabel("No golden parts: register known good and known defective parts.")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.add_good.clicked.connect(lambda: self._add("good"))
        self.add_defective.clicked.connect(lambda: self._add("defective"))
        self.remove.clicked.connect(self._remove)
        self.check_button.clicked.connect(self.check)
        buttons = QHBoxLayout()
        for b in (self.add_good, self.add_defective, self.remove):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.check_button)
        policy_row = QHBoxLayout()
        policy_row.addWidget(QLabel("When one gets the wrong verdict at a run start:"))
        policy_row.addWidget(self.policy)
        policy_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addLayout(policy_row)
        layout.addWidget(self.status)

    # -- the recipe in the form ------------------------------------------------------------------
    def golden_policy(self) -> str:
        return str(self.policy.currentData())

    def set_recipe(self, recipe: Recipe) -> None:
        self.policy.setCurrentIndex(max(0, self.policy.findData(recipe.golden_policy)))
        self.show_recipe(recipe.name)

    def show_recipe(self, name: str) -> None:
        """List ``name``'s golden parts and its last check (read off the GUI thread)."""
        self.name = name
        store = self.station.store
        if store is None or not name:
            self._listed(name, ([], []))
            return
        self.station.tasks.submit(
            lambda: (store.golden.parts(name), store.golden.checks(name, limit=1)),
            lambda found: self._listed(name, found),
            lambda exc: self._show(describe_error(exc), "error"),
        )

    def _listed(self, name: str, found) -> None:
        if name != self.name:
            return  # another recipe is shown by now
        parts, checks = found
        self.parts = list(parts)
        self.table.setRowCount(len(self.parts))
        for row, part in enumerate(self.parts):
            for col, text in enumerate((Path(part.file_path).name, part.expected, part.created_by or "unsigned")):
                item = QTableWidgetItem(text)
                item.setToolTip(part.file_path if col == 0 else (part.note or ""))
                self.table.setItem(row, col, item)
        if checks:
            last = checks[0]
            verdict = "passed" if last.passed else f"FAILED ({len(last.wrong)} wrong)"
            self._status(
                f"Last check {last.checked_at.astimezone():%Y-%m-%d %H:%M} ({last.trigger}, v{last.recipe_version}): "
                f"{verdict}.",
                failed=not last.passed,
            )
        elif self.parts:
            self._status(f"{len(self.parts)} golden part(s); not checked yet (every run start checks them).")
        else:
            self._status("No golden parts: register known good and known defective parts.")

    def _status(self, text: str, *, failed: bool = False) -> None:
        self.status.setText(text)
        self.status.setObjectName("goldenFailed" if failed else "muted")
        self.status.setStyleSheet("color: #d93025; font-weight: 600;" if failed else "")

    # -- signed changes --------------------------------------------------------------------------
    def _add(self, expected: str) -> None:
        if not self.name:
            self._show("Give the recipe a name (and save it) before registering golden parts.", "warning")
            return
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(self, f"Known {expected} parts", "", f"Images ({patterns})")
        if files:
            self.add_files([Path(f) for f in files], expected)

    def add_files(self, files: list[Path], expected: str) -> None:
        """Register ``files`` as golden parts that must get ``expected`` (signed when the station requires it)."""
        name = self.name
        text = (
            f"golden part{'s' if len(files) > 1 else ''} added: " + ", ".join(f.name for f in files) + f" ({expected})"
        )
        self._change(
            f"Golden parts of '{name}'", text,
            lambda store, signer: [store.golden.add(name, f, expected, signer=signer) for f in files],
        )  # fmt: skip

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows:
            self._show("Select the golden parts to remove.", "warning")
            return
        self.remove_parts([self.parts[r] for r in rows])

    def remove_parts(self, parts: list[Any]) -> None:
        text = "golden parts removed: " + ", ".join(f"{Path(p.file_path).name} ({p.expected})" for p in parts)
        self._change(
            f"Golden parts of '{self.name}'", text,
            lambda store, signer: [store.golden.remove(p.id, signer=signer) for p in parts],
        )  # fmt: skip

    def _change(self, what: str, text: str, apply: Callable[[Any, Any], Any]) -> None:
        station = self.station
        if station.store is None or station.ops is None:
            self._show("The database is still opening; try again in a moment.", "warning")
            return
        from inspector.store.changes import signatures_required

        def prepare(store):
            return text, signatures_required(store), [a.name for a in store.accounts.list()]

        signed_change(
            self, what=what, store=station.store, tasks=station.tasks, ops=station.ops, operator=station.operator,
            prepare=prepare, apply=apply, on_done=lambda _r: self._changed(text),
            on_error=lambda exc: self._show(describe_error(exc), "error"), change=OpChange("golden"),
        )  # fmt: skip

    def _changed(self, text: str) -> None:
        self._show(text[:1].upper() + text[1:] + ".", "info")
        self.show_recipe(self.name)

    # -- check now -------------------------------------------------------------------------------
    def check(self) -> Job | None:
        """Score the golden parts with the saved recipe now (the check a run start makes); stored."""
        path = self._recipe_path()
        station = self.station
        if path is None or not path.is_file():
            self._show("Save the recipe first: the check scores with the saved recipe.", "warning")
            return None
        if station.store is None or self.job is not None:
            return None
        store = station.store

        def run(progress):
            from inspector.pipeline.golden import check_golden_parts
            from inspector.pipeline.runner import fit_for_recipe

            recipe = load_recipe(path)
            if not store.golden.parts(recipe.name):
                return None
            kwargs = {"device": station.settings.device, "dtype": model_dtype(station.settings.dtype),
                      "random_weights": station.random_weights}  # fmt: skip
            if station.detector_factory is not None:
                detector = station.detector_factory(recipe, **kwargs)
            else:
                from inspector.detectors.factory import detector_for_recipe

                detector = detector_for_recipe(recipe, **kwargs)
            fit_for_recipe(detector, recipe)
            version = store.save_recipe_version(recipe.name, recipe.to_dict())
            return check_golden_parts(
                store, recipe, detector, version, trigger="on-demand", operator=station.operator,
                progress=progress, enforce=False,
            )  # fmt: skip

        self.check_button.setEnabled(False)
        self._status("Checking the golden parts…")
        self.job = Job(run, name="inspector-golden-check", parent=self)
        self.job.finished.connect(self._checked)
        self.job.failed.connect(lambda message, _exc: self._check_failed(message))
        self.job.start()
        return self.job

    def _checked(self, outcome) -> None:
        self.job = None
        self.check_button.setEnabled(True)
        self.outcome = outcome
        if outcome is None:
            self._show("This recipe has no golden parts to check.", "warning")
        else:
            check = outcome.check
            wrong = "; ".join(r.describe() for r in check.wrong)
            self._status(
                f"Golden-part check FAILED — {wrong}" if wrong else outcome.message.splitlines()[0],
                failed=not outcome.passed,
            )
            self._show(outcome.message, "info" if outcome.passed else "error")
        self.show_recipe(self.name)

    def _check_failed(self, message: str) -> None:
        self.job = None
        self.check_button.setEnabled(True)
        self._show(f"The golden-part check could not run: {message}", "error")
        self.show_recipe(self.name)
