"""Station settings (a JSON file in the data folder) and the settings dialog.

The settings file is ``<INSPECTOR_DATA_DIR or the per-user data folder>/station-settings.json``. The
*data folder* setting says where the database, the artifacts and the recipes live (default: that
same folder); a change takes effect at the next start, because running work keeps its database.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.paths import data_dir
from inspector.core.precision import BACKENDS, PRECISIONS, encoder_choice
from inspector.errors import InspectorError

log = logging.getLogger(__name__)

SETTINGS_FILE = "station-settings.json"
DEVICES = ("auto", "cpu", "cuda")
DTYPES = PRECISIONS  # int8: the detector's encoder on OpenVINO INT8 where it agrees with fp32
CAPTIONERS = ("blip-base", "blip2-opt-2.7b")


@dataclass(frozen=True)
class StationSettings:
    """What the station remembers between shifts."""

    data_folder: str = ""  # empty: the default data folder
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "auto"  # CPU inference runtime of the image encoder: auto, torch, openvino
    captioner_enabled: bool = False
    captioner_model: str = "blip-base"
    theme: str = "light"
    durability: str = "normal"  # "full": no stored verdict lost in a power cut (an fsync per commit)
    # Mirrors of the database's log-in policy, for the dialog. Earlier stations kept PINs here: the
    # window moves them into the database (inside the audit trail) at the next start and clears them.
    require_pin: bool = False
    pins: dict[str, str] = field(default_factory=dict)  # legacy: operator -> "salt$hash" (PBKDF2)
    last_operator: str = ""
    last_recipe: str = ""
    last_source_kind: str = "folder"
    last_source: str = ""
    heatmap_opacity: float = 0.6
    colormap: str = "inferno"
    advance_after_relabel: bool = True

    @property
    def data_path(self) -> Path:
        return Path(self.data_folder).expanduser() if self.data_folder else data_dir()

    @property
    def database_path(self) -> Path:
        return self.data_path / "inspector.db"

    @property
    def recipes_dir(self) -> Path:
        return self.data_path / "recipes"


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> StationSettings:
    """The saved settings, or the defaults (a damaged file is reported in the log and ignored)."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StationSettings()
    except (OSError, ValueError) as exc:
        log.warning("Settings file %s cannot be read (%s); using the defaults.", path, exc)
        return StationSettings()
    known = {f.name for f in fields(StationSettings)}
    values = {k: v for k, v in data.items() if k in known} if isinstance(data, dict) else {}
    try:
        return StationSettings(**values)
    except TypeError:
        return StationSettings()


def save_settings(settings: StationSettings, path: Path | None = None) -> None:
    """Write the settings atomically."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _choice(items: tuple[str, ...], current: str, tooltip: str = "") -> QComboBox:
    """A combo box of ``items`` showing ``current``."""
    box = QComboBox()
    box.addItems(items)
    box.setCurrentText(current)
    if tooltip:
        box.setToolTip(tooltip)
    return box


class SettingsDialog(QDialog):
    """Data folder, device, precision and backend, captioner on/off, theme, PIN at log-in."""

    def __init__(self, settings: StationSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Station settings")
        self.setMinimumWidth(560)
        self._settings = settings
        form = QFormLayout()
        self.data_folder = QLineEdit(settings.data_folder)
        self.data_folder.setPlaceholderText(str(data_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_folder, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Data folder", holder)
        note = QLabel("Database, part images and recipes. A new folder is used from the next start.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        form.addRow("", note)
        self.device = _choice(DEVICES, settings.device)
        form.addRow("Device", self.device)
        self.dtype = _choice(
            DTYPES,
            settings.dtype,
            "auto: measured on this machine; int8: the image encoder on OpenVINO INT8, used only where its maps "
            "and scores agree with fp32 on the recipe's held-out good parts (else OpenVINO fp32, said at start)",
        )
        form.addRow("Precision", self.dtype)
        self.backend = _choice(
            BACKENDS,
            settings.backend,
            "CPU inference runtime of the image encoder: auto (measured once per machine and model), "
            "torch, or openvino (checked against torch at start-up)",
        )
        form.addRow("Backend", self.backend)
        self.runtime_note = QLabel()  # lines broken by hand: a word-wrapped label in a form is cut short
        self.runtime_note.setObjectName("muted")
        form.addRow("", self.runtime_note)
        self.captioner = QCheckBox("Caption flagged parts")
        self.captioner.setChecked(settings.captioner_enabled)
        self.captioner_model = QComboBox()
        self.captioner_model.addItems(CAPTIONERS)
        self.captioner_model.setCurrentText(settings.captioner_model)
        self.captioner_model.setEnabled(settings.captioner_enabled)
        self.captioner.toggled.connect(self.captioner_model.setEnabled)
        form.addRow("Captions", self.captioner)
        form.addRow("Captioner", self.captioner_model)
        self.theme = QComboBox()
        self.theme.addItems(["light", "dark"])
        self.theme.setCurrentText(settings.theme)
        form.addRow("Theme", self.theme)
        self.durability = QComboBox()
        self.durability.addItems(["normal", "full"])
        self.durability.setCurrentText(settings.durability)
        self.durability.setToolTip(
            "normal: nothing stored is lost when the station crashes; full: not in a power cut either (slower)"
        )
        form.addRow("Durability", self.durability)
        self.require_pin = QCheckBox("Ask operators for a PIN at log-in")
        self.require_pin.setChecked(settings.require_pin)
        form.addRow("Log-in", self.require_pin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        for combo in (self.device, self.dtype, self.backend):
            combo.currentTextChanged.connect(self._runtime_changed)
        buttons.accepted.connect(lambda: self.plant.save() and self.accept())  # plant.json first: a bad URL stays
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        from inspector.ui.plant_panel import PlantSettingsBox

        self.plant = PlantSettingsBox(self)  # central database URL, OPC UA on/off (plant.json)
        layout.addWidget(self.plant)
        layout.addWidget(buttons)
        self._runtime_changed()

    def runtime_problem(self) -> str:
        """Why the chosen device, precision and backend cannot run together (empty: they can)."""
        try:
            encoder_choice(self.device.currentText(), self.dtype.currentText(), self.backend.currentText())
        except InspectorError as exc:
            return str(exc)
        return ""

    def _runtime_changed(self) -> None:
        problem = self.runtime_problem()
        if problem:
            note = problem
        elif self.dtype.currentText() == "int8":
            note = (
                "INT8 runs on OpenVINO on the CPU. At each start it is checked against fp32 on the recipe's "
                "held-out good parts (calibration images, reviewed passed parts) and used only where it agrees; "
                "otherwise the run stays on OpenVINO fp32 and says why."
            )
        else:
            note = ""
        self.runtime_note.setText(textwrap.fill(note, 56 if problem else 62))  # bold is wider
        if self.runtime_note.objectName() != ("errorText" if problem else "muted"):
            self.runtime_note.setObjectName("errorText" if problem else "muted")
            self.runtime_note.style().unpolish(self.runtime_note)
            self.runtime_note.style().polish(self.runtime_note)
        self.runtime_note.setVisible(bool(self.runtime_note.text()))
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))  # room for the note
        self.save_button.setEnabled(not problem)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder", self.data_folder.text() or str(data_dir()))
        if folder:
            self.data_folder.setText(folder)

    def result_settings(self) -> StationSettings:
        return replace(
            self._settings,
            data_folder=self.data_folder.text().strip(),
            device=self.device.currentText(),
            dtype=self.dtype.currentText(),
            backend=self.backend.currentText(),
            captioner_enabled=self.captioner.isChecked(),
            captioner_model=self.captioner_model.currentText(),
            theme=self.theme.currentText(),
            durability=self.durability.currentText(),
            require_pin=self.require_pin.isChecked(),
        )
