"""Recipe set-up for the process engineer: object name, prompts (with the prompt ensemble previewed),
defect classes, detector and model, good reference images (drag-and-drop or file dialog),
calibration, and saving. Each save that changes the recipe is a new version in the database; every
inspection names the version it used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector.core.detector_table import DETECTOR_TABLE, KINDS
from inspector.core.images import IMAGE_SUFFIXES
from inspector.core.model_fit import ROLES, model_fit_problem
from inspector.core.recipe import DEFAULT_MODELS, Recipe, load_recipe, save_recipe
from inspector.core.registry import ModelSpec
from inspector.detectors.prompts import build_prompt_ensemble
from inspector.errors import InspectorError
from inspector.ui.caption_training_panel import CaptionTrainingPanel
from inspector.ui.golden_panel import GoldenPanel
from inspector.ui.image_list import ImageList, thumbnail
from inspector.ui.plain_text import plain_tooltip
from inspector.ui.recalibration_panel import RecalibrationPanel
from inspector.ui.recipe_calibration import RecipeCalibration
from inspector.ui.sign_dialog import save_signed_recipe
from inspector.ui.station import Station, recipe_file_name, recipe_files
from inspector.ui.train_panel import TrainPanel
from inspector.ui.widgets import BannerArea, MessageBar
from inspector.ui.workers import describe_error

log = logging.getLogger(__name__)

# The detector table's words, listed few-shot first (the DINOv2 one, the recommended default, on top),
# then zero-shot, then the trained detectors.
DETECTOR_LABELS = {
    kind.name: kind.label
    for kind in sorted(DETECTOR_TABLE, key=lambda k: (k.trained, not k.few_shot, k.role != "vision"))
}


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class RecipeEditor(RecipeCalibration, QWidget):
    """The Recipes tab."""

    recipes_changed = Signal(str)  # path of the saved recipe

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.path: Path | None = None
        self.calibration: dict = {}
        self.detector_params: dict = {}
        self.messages = MessageBar()
        self.list = QListWidget()
        self.list.setMaximumWidth(240)
        self.list.setMinimumWidth(150)
        self.list.currentItemChanged.connect(self._list_selected)
        new = QPushButton("New recipe")
        new.clicked.connect(self.new_recipe)
        open_file = QPushButton("Open file…")
        open_file.clicked.connect(self._open_file)
        lv = QVBoxLayout()
        lv.addWidget(QLabel("Recipes"))
        lv.addWidget(self.list, 1)
        lv.addWidget(new)
        lv.addWidget(open_file)
        left = QWidget()
        left.setLayout(lv)
        left.setMaximumWidth(260)

        self.name = QLineEdit()
        self.name.setPlaceholderText("name of the new recipe, e.g. ball screw M8")
        self.object_name = QLineEdit()
        self.object_name.setPlaceholderText("what the part is called, e.g. ball screw")
        self.detector = QComboBox()
        for key, text in DETECTOR_LABELS.items():
            self.detector.addItem(text, key)
        # it may shorten its label ("Few-shot — AnomalyD…") to keep two columns on a narrow screen; the
        # list it opens shows the whole labels
        self.detector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.detector.setMinimumContentsLength(18)
        self.detector.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model = QComboBox()
        self.model_status = QLabel("")
        self.model_status.setWordWrap(True)
        self.model_status.setObjectName("muted")
        self.defects = QLineEdit()
        self.defects.setPlaceholderText("comma separated, e.g. pitting, scratch, dent")
        self.extra_normal = QPlainTextEdit()
        self.extra_normal.setPlaceholderText("one per line, {} is the object: {} with a smooth surface")
        self.extra_anomalous = QPlainTextEdit()
        self.extra_anomalous.setPlaceholderText("one per line: {} with pitting, scratched {}")
        for edit in (self.extra_normal, self.extra_anomalous):
            edit.setMaximumHeight(70)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview_count = QLabel("")
        self.preview_count.setObjectName("muted")
        self.references = ImageList(thumbnails=self._thumbnail)
        self.held_out = ImageList(thumbnails=self._thumbnail)
        self.held_out.setMinimumHeight(70)
        self._exact: dict[QDoubleSpinBox, float] = {}  # calibrated values kept exact (spin boxes round)
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(5)
        self.threshold.setRange(-1e6, 1e6)
        self.threshold.setSingleStep(0.01)
        self.use_band = QCheckBox("Uncertain band")
        self.band_low = QDoubleSpinBox()
        self.band_high = QDoubleSpinBox()
        for spin in (self.band_low, self.band_high):
            spin.setDecimals(5)
            spin.setRange(-1e6, 1e6)
            spin.setSingleStep(0.01)
        for spin in (self.threshold, self.band_low, self.band_high):
            spin.setMinimumWidth(100)  # room for a score ("0.08561"), not for the range's "-1000000.00000"
        self.calibration_label = QLabel("Not calibrated yet.")
        self.calibration_label.setObjectName("muted")
        self.calibration_label.setWordWrap(True)
        self.versions = QLabel("")
        self.versions.setObjectName("muted")
        self.versions.setWordWrap(True)
        self.calibrate_button = QPushButton("Calibrate threshold…")
        self.save_button = QPushButton("Save  (Ctrl+S)")
        self.save_button.setObjectName("primary")

        what = QGroupBox("Part and prompts")
        wf = QFormLayout(what)
        wf.addRow("Recipe name", self.name)
        wf.addRow("Object name", self.object_name)
        wf.addRow("Defect classes", self.defects)
        wf.addRow("More normal states", self.extra_normal)
        wf.addRow("More anomalous states", self.extra_anomalous)
        how = QGroupBox("Detector")
        hf = QFormLayout(how)
        hf.addRow("Detector", self.detector)
        hf.addRow("Model", self.model)
        hf.addRow("", self.model_status)
        refs = QGroupBox("Good reference images (drop files or folders)")
        rf = QVBoxLayout(refs)
        rf.addWidget(self.references)
        self.ref_count = self._list_buttons(rf, self.references)
        rf.addWidget(QLabel("Held-out good images for calibration (optional):"))
        rf.addWidget(self.held_out)
        self.held_count = self._list_buttons(rf, self.held_out)
        decide = QGroupBox("Decision")
        df = QFormLayout(decide)
        df.addRow("Threshold (fail at or above)", self.threshold)
        band_row = QHBoxLayout()
        band_row.addWidget(self.use_band)
        band_row.addWidget(self.band_low)
        band_row.addWidget(QLabel("to"))
        band_row.addWidget(self.band_high)
        df.addRow(band_row)
        df.addRow(self.calibration_label)
        df.addRow(self.calibrate_button)
        prompts = QGroupBox("Prompt ensemble (WinCLIP)")
        pf = QVBoxLayout(prompts)
        self.preview_count.setWordWrap(True)
        self.preview.setToolTip("What the CLIP detectors compare each part with")
        pf.addWidget(self.preview_count)
        pf.addWidget(self.preview, 1)

        col1 = QVBoxLayout()
        col1.addWidget(what)
        col1.addWidget(how)
        col1.addWidget(prompts, 1)
        col2 = QVBoxLayout()
        col2.addWidget(refs, 1)
        col2.addWidget(decide)
        self.side_panels = QWidget()  # beside the part's form on a wide screen, under it on a narrow one
        side = QVBoxLayout(self.side_panels)
        side.setContentsMargins(0, 0, 0, 0)
        self.golden = GoldenPanel(station, lambda: self.path, self.messages.show_message)  # golden parts (#16)
        side.addWidget(self.golden)
        self.train_panel = TrainPanel.for_station(station)
        self.train_panel.place_in(side, self)
        self.caption_panel = CaptionTrainingPanel.for_station(station)  # LoRA on the corrected captions
        self.caption_panel.place_in(side, self)
        col2.addWidget(self.side_panels)
        col2.addWidget(self.versions)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)
        col2.addLayout(save_row)
        form = QWidget()
        outer = QVBoxLayout(form)
        fl = QHBoxLayout()
        fl.addLayout(col1, 1)
        fl.addLayout(col2, 1)
        outer.addLayout(fl)
        self._columns = (fl, col1, col2, outer, (refs, decide, self.save_button))
        self.recalibration = RecalibrationPanel(station)  # thresholds from reviewed parts (#16)
        self.recalibration.applied.connect(self._recalibrated)
        outer.addWidget(self.recalibration)
        self.form_scroll = QScrollArea()  # a long form scrolls on a small screen instead of being cut
        self.form_scroll.setWidget(form)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.installEventFilter(self)  # its width decides how the form's columns are laid out
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.form_scroll)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addWidget(BannerArea(self.messages, max_height=140))
        layout.addWidget(splitter, 1)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(150)
        self._preview_timer.timeout.connect(self.update_preview)
        for edit in (self.object_name, self.extra_normal, self.extra_anomalous):
            edit.textChanged.connect(self._preview_timer.start)
        self.detector.currentIndexChanged.connect(self._detector_changed)
        self.use_band.toggled.connect(self._band_toggled)
        self.references.changed.connect(self._refs_changed)
        self.held_out.changed.connect(self._refs_changed)
        self.model.currentIndexChanged.connect(self._update_status)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.save_button.clicked.connect(self.save)
        QShortcut(
            QKeySequence.StandardKey.Save,
            self,
            activated=self.save,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._models: list[tuple[ModelSpec, bool]] = []  # the registry's clip/vision models, has weights
        self.new_recipe()

    # -- layout ------------------------------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched is self.form_scroll and event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest):
            self._fit_form()
        return super().eventFilter(watched, event)

    def _fit_form(self) -> None:
        """No sideways scrolling where the screen allows it: the golden, training and caption panels beside
        the part's form when both columns fit, under the two columns when not, and everything in one
        column when even two do not fit."""
        fl, col1, col2, outer, core = self._columns
        margins = outer.contentsMargins()
        room = self.form_scroll.width() - self.form_scroll.verticalScrollBar().sizeHint().width()
        room -= margins.left() + margins.right() + fl.spacing()
        first = col1.minimumSize().width()
        second = max(w.minimumSizeHint().width() for w in core)
        beside = room >= first + max(col2.minimumSize().width(), self.side_panels.minimumSizeHint().width())
        stacked = not beside and room < first + second
        inside = col2.indexOf(self.side_panels) >= 0
        direction = QBoxLayout.Direction.TopToBottom if stacked else QBoxLayout.Direction.LeftToRight
        if beside == inside and fl.direction() == direction:
            return
        if beside and not inside:
            outer.removeWidget(self.side_panels)
            col2.insertWidget(col2.indexOf(self.versions), self.side_panels)
        elif not beside and inside:
            col2.removeWidget(self.side_panels)
            outer.insertWidget(1, self.side_panels)  # under the columns, above the recalibration panel
        fl.setDirection(direction)
        outer.activate()  # laid out at once: nothing is shown (or dropped on) where it was a moment ago

    # -- listing -----------------------------------------------------------------------------------------
    def _thumbnail(self, path: str, done: Callable[[QImage | None], None]) -> None:
        self.station.tasks.submit(lambda: thumbnail(path), done, lambda _exc: None)

    def reload_list(self, select: str = "") -> None:
        folder = self.station.settings.recipes_dir
        self.list.blockSignals(True)
        self.list.clear()
        for label, path in recipe_files(folder):
            self.list.addItem(label)
            self.list.item(self.list.count() - 1).setData(Qt.ItemDataRole.UserRole, path)
            if path == select:
                self.list.setCurrentRow(self.list.count() - 1)
        self.list.blockSignals(False)

    def show_recipe(self, path: str = "") -> None:
        """List the recipes and open ``path`` (else the first one); a new recipe when there is none."""
        self.reload_list(select=path)
        paths = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        chosen = path if path in paths else (paths[0] if paths else "")
        if chosen and self.open_path(Path(chosen)):
            self.list.blockSignals(True)
            self.list.setCurrentRow(paths.index(chosen))
            self.list.blockSignals(False)
        else:
            self.new_recipe()

    def load_models(self) -> None:
        """Read the model registry and whether each model's weights are here (off the GUI thread)."""

        def read():
            from inspector.core.registry import load_registry

            return [
                (s, s.config is not None or s.has_weights())
                for s in load_registry().values()
                if s.role in ("clip", "vision")
            ]

        self.station.tasks.submit(
            read, self._models_loaded, lambda exc: self.messages.show_message(describe_error(exc), "warning")
        )

    def _models_loaded(self, models) -> None:
        self._models = models
        self._detector_changed()

    def _list_selected(self, current, _previous) -> None:
        if current is not None:
            self.open_path(Path(current.data(Qt.ItemDataRole.UserRole)))

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open recipe", str(self.station.settings.recipes_dir), "Recipes (*.json)"
        )
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        try:
            recipe = load_recipe(path)
        except InspectorError as exc:
            self.messages.show_message(describe_error(exc), "error")
            return False
        self.path = path
        self.set_recipe(recipe)
        self.train_panel.set_recipe(path)
        self.caption_panel.set_recipe(path)
        return True

    # -- the form ----------------------------------------------------------------------------------------
    def new_recipe(self) -> None:
        self.path = None
        self.list.clearSelection()
        self.set_recipe(Recipe(name="", object_name="", detector="anomalydino", threshold=0.5))
        self.train_panel.set_recipe(None)
        self.caption_panel.set_recipe(None)
        self.name.setFocus()

    def store_opened(self) -> None:
        """The station's database is open: the training panels read the shown recipe from it."""
        self.train_panel.refresh()
        self.caption_panel.refresh()

    def set_recipe(self, recipe: Recipe) -> None:
        self.loaded = recipe  # the fields the form does not show (training record, library, identity) are kept
        self.name.setText(recipe.name)
        self.object_name.setText(recipe.object_name)
        self.detector.setCurrentIndex(max(0, self.detector.findData(recipe.detector)))
        self._detector_changed(select=recipe.model_id)
        self.defects.setText(", ".join(recipe.defect_classes))
        self.extra_normal.setPlainText("\n".join(recipe.extra_normal))
        self.extra_anomalous.setPlainText("\n".join(recipe.extra_anomalous))
        self.references.set_paths(recipe.references)
        self.held_out.set_paths(recipe.calibration_images)
        band = recipe.uncertain_band
        self._set_exact(self.threshold, recipe.threshold)
        self.use_band.setChecked(band is not None)
        self._set_exact(self.band_low, band[0] if band else recipe.threshold)
        self._set_exact(self.band_high, band[1] if band else recipe.threshold)
        self._band_toggled(band is not None)
        self.calibration = dict(recipe.calibration)
        self.detector_params = dict(recipe.detector_params)
        self._show_calibration()
        self._refs_changed()
        self.update_preview()
        self._load_versions(recipe.name)
        self.recalibration.set_recipe(recipe if self.path is not None else None, self.path)
        self.golden.set_recipe(recipe)

    def _recalibrated(self, path: str) -> None:
        if self.open_path(Path(path)):
            self.recipes_changed.emit(path)

    def _set_exact(self, spin: QDoubleSpinBox, value: float) -> None:
        spin.setValue(value)
        self._exact[spin] = float(value)

    def _value(self, spin: QDoubleSpinBox) -> float:
        """The exact value set by a calibration, unless someone typed another one since."""
        exact = self._exact.get(spin)
        if exact is not None and round(exact, spin.decimals()) == round(spin.value(), spin.decimals()):
            return exact
        return spin.value()

    def recipe(self) -> Recipe:
        """The recipe in the form. Raises RecipeError with a message when it is not valid."""
        band = (self._value(self.band_low), self._value(self.band_high)) if self.use_band.isChecked() else None
        return replace(
            self.loaded,
            name=self.name.text().strip(),
            object_name=self.object_name.text().strip() or "object",
            detector=self.detector.currentData(),
            model=self.model.currentData() or "",
            references=self.references.paths(),
            calibration_images=self.held_out.paths(),
            extra_normal=_lines(self.extra_normal.toPlainText()),
            extra_anomalous=_lines(self.extra_anomalous.toPlainText()),
            defect_classes=tuple(c.strip() for c in self.defects.text().split(",") if c.strip()),
            threshold=self._value(self.threshold),
            uncertain_band=band,
            detector_params=dict(self.detector_params),
            calibration=dict(self.calibration),
            golden_policy=self.golden.golden_policy(),
        )

    def _detector_changed(self, *_args, select: str = "") -> None:
        detector = self.detector.currentData()
        wanted = select or self.model.currentData() or DEFAULT_MODELS[detector]
        if not select and self.model_problem(wanted, detector):  # the detector was switched: its own default
            wanted = DEFAULT_MODELS[detector]
        self.model.blockSignals(True)
        self.model.clear()
        entries = [(spec.id, spec.title, present) for spec, present in self._models if spec.role == ROLES[detector]]
        if not any(
            e[0] == wanted for e in entries
        ):  # the recipe's own choice stays visible, marked when it cannot work
            entries.insert(0, (wanted, wanted, True))
        for model_id, title, present in entries:
            problem = self.model_problem(model_id, detector)
            mark = "   (does not fit this detector)" if problem else "" if present else "   (weights missing)"
            self.model.addItem(f"{model_id}{mark}", model_id)
            self.model.setItemData(self.model.count() - 1, plain_tooltip(problem or title), Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentIndex(max(0, self.model.findData(wanted)))
        self.model.blockSignals(False)
        self._update_status()
        self.update_preview()

    def model_problem(self, model_id: str, detector: str | None = None) -> str | None:
        """Why the detector cannot use this model (None: it can, or the registry is not read yet)."""
        detector = detector or self.detector.currentData()
        spec = next((s for s, _present in self._models if s.id == model_id), None)
        return model_fit_problem(detector, spec) if spec is not None else None

    def _update_status(self) -> None:
        """The line under the model: why the model cannot work, or what the detector still needs."""
        problem = self.model_problem(self.model.currentData() or "")
        if problem:
            self.model_status.setText(problem)
            self.model_status.setObjectName("errorText")
        else:
            kind = KINDS.get(self.detector.currentData() or "")
            few = kind is not None and kind.few_shot and not kind.trained
            n = self.references.count()
            if kind is not None and kind.trained:
                text = "Trained from the recipe's good parts (the Train panel below)."
            elif few and n == 0:
                text = "Needs good reference images."
            elif few:
                text = f"Few-shot with {n} good reference{'s' if n != 1 else ''}."
            else:
                text = "Zero-shot: needs only the object name."
            self.model_status.setText(text)
            self.model_status.setObjectName("muted")
        self.model_status.style().unpolish(self.model_status)
        self.model_status.style().polish(self.model_status)

    def _band_toggled(self, on: bool) -> None:
        self.band_low.setEnabled(on)
        self.band_high.setEnabled(on)

    def _refs_changed(self) -> None:
        n = self.references.count()
        self.ref_count.setText(f"{n} reference{'s' if n != 1 else ''}")
        held = self.held_out.count()
        self.held_count.setText(f"{held} held-out image{'s' if held != 1 else ''}")
        self._update_status()

    def update_preview(self) -> None:
        """The prompt ensemble WinCLIP averages (pure Python: no model needed)."""
        name = self.object_name.text().strip() or "object"
        ensemble = build_prompt_ensemble(
            name, _lines(self.extra_normal.toPlainText()), _lines(self.extra_anomalous.toPlainText())
        )
        kind = KINDS.get(self.detector.currentData() or "")
        uses = kind is not None and kind.prompts
        self.preview_count.setText(
            f"{len(ensemble.normal)} normal and {len(ensemble.anomalous)} anomalous prompts"
            + ("" if uses else " (used only by the WinCLIP detectors)")
        )
        lines = ["NORMAL"] + [f"  {p}" for p in ensemble.normal] + ["", "ANOMALOUS"]
        lines += [f"  {p}" for p in ensemble.anomalous]
        self.preview.setPlainText("\n".join(lines))

    def _list_buttons(self, layout: QVBoxLayout, target: ImageList) -> QLabel:
        """Add / Remove buttons for an image list, in a row under it in ``layout``; its count label."""
        row = QHBoxLayout()
        add = QPushButton("Add images…")
        add.clicked.connect(lambda: self._add_images(target))
        remove = QPushButton("Remove selected")
        remove.clicked.connect(target.remove_selected)
        count = QLabel("")
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        row.addWidget(count)
        layout.addLayout(row)
        return count

    def _add_images(self, target: ImageList) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Good images", str(Path.home()), f"Images ({patterns})")
        if paths:
            target.add_paths(paths)

    # -- save ---------------------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write the recipe file and record it as a new version (signed first on a PIN station: ui.sign_dialog)."""
        try:
            recipe = self.recipe()
            if not recipe.name:
                raise InspectorError("Give the recipe a name.")
            problem = self.model_problem(recipe.model or DEFAULT_MODELS[recipe.detector], recipe.detector)
            if problem:
                raise InspectorError(f"Not saved: {problem}")
            if recipe.few_shot and not recipe.references:
                self.messages.show_message(
                    f"{DETECTOR_LABELS[recipe.detector]} needs good reference images: add some before inspecting.",
                    "warning",
                )
            folder = self.station.settings.recipes_dir
            folder.mkdir(parents=True, exist_ok=True)
            same_folder = self.path is not None and self.path.parent == folder
            path = self.path if same_folder else folder / recipe_file_name(recipe)
            signed = self.station.settings.require_pin and self.station.ops is not None
            if not signed:  # a station without PINs: stored unsigned (inspector.store.changes)
                save_recipe(recipe, path)
        except (InspectorError, OSError) as exc:
            self.messages.show_message(describe_error(exc), "error")
            return None
        save_signed_recipe(self, self.station, recipe, path, signed=signed, written=self._written,
                           saved=lambda c: self._saved(c.version.version, path, c))  # fmt: skip
        return path

    def _written(self, path: Path) -> None:
        self.path = path
        self.reload_list(select=str(path))
        self.train_panel.set_recipe(path)
        self.caption_panel.set_recipe(path)
        self.recipes_changed.emit(str(path))

    def _saved(self, version: int, path: Path, change=None) -> None:
        signed = f"signed by {change.signature.describe()}" if change is not None and change.signature else "unsigned"
        self.messages.show_message(f"Saved {path.name} — version {version} in the database ({signed}).", "info")
        self._load_versions(self.name.text().strip())

    def _load_versions(self, name: str) -> None:
        store = self.station.store
        if store is None or not name:
            self.versions.setText("")
            return
        self.station.tasks.submit(
            lambda: store.recipe_versions(name), lambda found: self._versions_loaded(name, found), lambda _e: None
        )

    def _versions_loaded(self, name: str, versions) -> None:
        if name != self.name.text().strip():
            return  # another recipe is in the form by now
        if not versions:
            self.versions.setText("Not in the database yet: saved as version 1 on the first save or run.")
            return
        latest = versions[-1]
        self.versions.setText(
            f"{len(versions)} version(s) in the database; latest v{latest.version} of "
            f"{latest.created_at.astimezone():%Y-%m-%d %H:%M}. Every inspection names its version."
        )
        self.latest_version = latest.version
