"""The live inspection screen: source and recipe, start/stop, the scored part with its heatmap, the
badge, caption, counters, the trend and (for cameras) the live preview. Widgets only: the
:class:`~inspector.ui.live_controller.LiveController` drives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector.sources import VIDEO_SUFFIXES
from inspector.ui.drift_banner import DriftBanner
from inspector.ui.heatmap_overlay import OverlayView, PreparedPart, overlay_controls
from inspector.ui.live_worker import SOURCE_KINDS, SourceChoice
from inspector.ui.plain_text import plain_tooltip
from inspector.ui.theme import VERDICT_COLOURS
from inspector.ui.trend import TrendPlot
from inspector.ui.widgets import BannerArea, CounterTile, ElidedLabel, MessageBar, VerdictBadge, section_title

_PLACEHOLDERS = {
    "folder": "Folder of part images",
    "hot": "Folder to watch for new images",
    "video": "Video file (.mp4, .avi, …)",
    "camera": "Camera number (0, 1, …) or /dev/video0",
    "stream": "rtsp://… or http://…",
}
SHORTCUTS_TEXT = "F5 start · F6 stop · H heatmap · O outline · [ ] opacity · Z reset zoom"


@dataclass(frozen=True)
class ShownPart:
    """The part the live screen painted, as the operator view repeats it."""

    part: PreparedPart
    band: tuple[float, float] | None
    note: str
    name: str


class LiveView(QWidget):
    """The operator's main screen during a shift."""

    start_requested = Signal()
    stop_requested = Signal()
    open_recipe_requested = Signal()
    open_inspection = Signal(str)  # a flagged part double-clicked: show it in the review screen
    recipe_switch_requested = Signal(str)  # another recipe chosen during a run (the choice is held back)
    part_shown = Signal(object)  # ShownPart, after it was painted (the operator view follows)
    running_changed = Signal(bool)
    counters_changed = Signal(object)  # dict of the counter values

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messages = MessageBar()
        self.banners = BannerArea(self.messages, max_height=170)  # the main window adds the first-run panel here
        self._running = False
        self._recipe_before = ""
        self.last_shown: ShownPart | None = None

        # -- controls ------------------------------------------------------------------------------
        self.source_kind = QComboBox()
        for key, text in SOURCE_KINDS.items():
            self.source_kind.addItem(text, key)
        self.source_target = QLineEdit()
        self.source_target.setMinimumWidth(150)
        self.browse = QPushButton("Browse…")
        self.play_live = QCheckBox("real time")
        self.play_live.setToolTip(
            "Play the video at its own frame rate, like a camera (frames are dropped "
            "when scoring falls behind). Off: every frame is scored."
        )
        self.play_live.setChecked(True)
        self.recipe = QComboBox()
        self.recipe.setMinimumWidth(150)
        self.recipe.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.recipe.setMinimumContentsLength(14)
        self.recipe.setPlaceholderText("No recipe yet")
        self.open_recipe = QPushButton("Open…")
        self.open_recipe.setToolTip("Open a recipe file from another folder")
        self.start = QPushButton("▶  Start")
        self.start.setObjectName("primary")
        self.start.setToolTip("Start inspecting (F5)")
        self.stop = QPushButton("■  Stop")
        self.stop.setObjectName("danger")
        self.stop.setToolTip("Stop (F6). Everything already scored is kept.")
        self.stop.setEnabled(False)
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("optional")
        self.lot.setMinimumWidth(90)
        self.lot.setMaximumWidth(200)
        self.lot.setToolTip("Lot or order number: kept with the run, so reports and exports can select it")
        self.stage = ElidedLabel("Idle")  # a long run message shortens (whole in its tooltip), never widens
        self.stage.setObjectName("muted")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Source"))
        controls.addWidget(self.source_kind)
        controls.addWidget(self.source_target, 3)
        controls.addWidget(self.browse)
        controls.addWidget(self.play_live)
        controls.addSpacing(10)
        controls.addWidget(QLabel("Recipe"))
        controls.addWidget(self.recipe, 2)
        controls.addWidget(self.open_recipe)
        controls.addSpacing(10)
        controls.addWidget(QLabel("Lot / order"))
        controls.addWidget(self.lot, 1)
        run_buttons = QHBoxLayout()
        run_buttons.addWidget(self.start, 1)
        run_buttons.addWidget(self.stop, 1)

        # -- the part -----------------------------------------------------------------------------
        self.overlay = OverlayView(placeholder="Press Start to inspect")
        self.overlay.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        heat_controls = overlay_controls(
            self.overlay, outline_text="Outline over threshold (O)", slider_width=140, colormap=True
        )
        self.show_heat, self.show_outline, self.opacity = (
            heat_controls.show_heat,
            heat_controls.show_outline,
            heat_controls.opacity,
        )
        assert heat_controls.colormap is not None
        self.colormap = heat_controls.colormap
        self.opacity.setToolTip("Heatmap opacity ([ and ])")
        self.part_label = ElidedLabel("")
        self.part_label.setObjectName("muted")
        tools = QHBoxLayout()
        tools.addWidget(self.show_heat)
        tools.addWidget(QLabel("Opacity"))
        tools.addWidget(self.opacity)
        tools.addWidget(self.colormap)
        tools.addWidget(self.show_outline)
        tools.addStretch(1)
        tools.addWidget(self.part_label)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.overlay, 1)
        left_layout.addLayout(tools)

        # -- the verdict column --------------------------------------------------------------------
        self.badge = VerdictBadge()
        self.caption = QLabel("")
        self.caption.setObjectName("caption")
        self.caption.setWordWrap(True)
        self.defect = QLabel("")
        self.defect.setObjectName("scoreLine")
        caption_box = QFrame()
        caption_box.setObjectName("panel")
        cb = QVBoxLayout(caption_box)
        cb.addWidget(section_title("Defect"))
        cb.addWidget(self.defect)
        cb.addWidget(self.caption)
        self.counters = {
            "inspected": CounterTile("Inspected"),
            "failed": CounterTile("Failed", colour=VERDICT_COLOURS["fail"]),
            "uncertain": CounterTile("Uncertain", colour=VERDICT_COLOURS["uncertain"]),
            "overridden": CounterTile("Overridden"),
            "rate": CounterTile("Images / s"),
            "dropped": CounterTile("Dropped"),
        }
        grid = QGridLayout()
        grid.setSpacing(6)
        for i, tile in enumerate(self.counters.values()):
            grid.addWidget(tile, i // 3, i % 3)
        self.preview_title = section_title("Live camera")
        self.preview = OverlayView(placeholder="No camera", interactive=False)
        self.preview.setMinimumHeight(100)
        self.preview_title.setVisible(False)
        self.preview.setVisible(False)
        self.flagged = QListWidget()
        self.flagged.setToolTip("Failed and uncertain parts of this run, newest first. Double-click: review it.")
        self.flagged.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.flagged.setMinimumHeight(60)
        self.flagged.itemDoubleClicked.connect(
            lambda item: self.open_inspection.emit(item.data(Qt.ItemDataRole.UserRole) or "")
        )
        self.frames_shown = 0
        right = QWidget()
        right.setMinimumWidth(330)
        right.setMaximumWidth(480)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(run_buttons)
        rl.addWidget(self.badge)
        rl.addLayout(grid)
        # below the counters, everything scrolls when the screen is short: Start/Stop, the badge and the
        # counters never do
        details = QWidget()
        dl = QVBoxLayout(details)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(caption_box)
        dl.addWidget(self.preview_title)
        dl.addWidget(self.preview, 2)
        dl.addWidget(section_title("Flagged in this run"))
        dl.addWidget(self.flagged, 1)
        self.details = QScrollArea()
        self.details.setWidget(details)
        self.details.setWidgetResizable(True)
        self.details.setFrameShape(QFrame.Shape.NoFrame)
        self.details.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details.setMinimumHeight(60)
        rl.addWidget(self.details, 1)

        # the part above its trend on the left, the verdict column the whole height on the right: the
        # screen's minimum height is the verdict column's, not the sum of all three
        self.trend = TrendPlot()
        self.trend.part_chosen.connect(self.open_inspection)  # a point or a video peak clicked: review it
        self.trend.setMinimumHeight(90)
        self.trend.setMaximumHeight(260)
        part_and_trend = QSplitter(Qt.Orientation.Vertical)
        part_and_trend.addWidget(left)
        part_and_trend.addWidget(self.trend)
        part_and_trend.setStretchFactor(0, 4)
        part_and_trend.setStretchFactor(1, 1)
        part_and_trend.setChildrenCollapsible(False)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(part_and_trend)
        main.addWidget(right)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 1)
        main.setChildrenCollapsible(False)
        help_line = QLabel(SHORTCUTS_TEXT)
        help_line.setObjectName("shortcutHelp")
        bottom = QHBoxLayout()
        bottom.addWidget(self.stage, 1)
        bottom.addWidget(help_line)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addWidget(self.banners)
        self.drift = DriftBanner()  # the run's scores against the calibration set (#16)
        self.trend.listeners.append(self.drift.add)
        layout.addWidget(self.drift)
        layout.addLayout(controls)
        layout.addWidget(main, 1)
        layout.addLayout(bottom)

        # -- wiring ----------------------------------------------------------------------------------
        self.source_kind.currentIndexChanged.connect(self._kind_changed)
        self.browse.clicked.connect(self._browse)
        self.start.clicked.connect(self.start_requested)
        self.stop.clicked.connect(self.stop_requested)
        self.open_recipe.clicked.connect(self.open_recipe_requested)
        self.recipe.currentIndexChanged.connect(self._recipe_chosen)
        for key, slot in (("F5", self._start_key), ("F6", self._stop_key)):
            QShortcut(QKeySequence(key), self, activated=slot, context=Qt.ShortcutContext.WindowShortcut)
        for key, slot in (
            ("H", self.show_heat.toggle),
            ("O", self.show_outline.toggle),
            ("[", lambda: self.opacity.setValue(self.opacity.value() - 10)),
            ("]", lambda: self.opacity.setValue(self.opacity.value() + 10)),
            ("Z", self.overlay.reset_zoom),
        ):
            QShortcut(QKeySequence(key), self, activated=slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._kind_changed()

    # -- source and recipe -------------------------------------------------------------------------
    def _kind_changed(self) -> None:
        kind = self.source_kind.currentData()
        self.source_target.setPlaceholderText(_PLACEHOLDERS.get(kind, ""))
        self.browse.setEnabled(kind in ("folder", "hot", "video"))
        self.play_live.setVisible(kind == "video")

    def _browse(self) -> None:
        kind = self.source_kind.currentData()
        start = self.source_target.text() or str(Path.home())
        if kind == "video":
            patterns = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
            path, _ = QFileDialog.getOpenFileName(self, "Video file", start, f"Videos ({patterns});;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Folder of part images", start)
        if path:
            self.source_target.setText(path)

    def source_choice(self) -> SourceChoice:
        return SourceChoice(
            self.source_kind.currentData(), self.source_target.text().strip(), self.play_live.isChecked()
        )

    def set_source_choice(self, kind: str, target: str, play_live: bool = True) -> None:
        index = self.source_kind.findData(kind)
        if index >= 0:
            self.source_kind.setCurrentIndex(index)
        self.source_target.setText(target)
        self.play_live.setChecked(play_live)

    def set_recipes(self, recipes: list[tuple[str, str]], selected: str = "") -> None:
        """``(label, path)`` pairs; ``selected`` is a path to select when present."""
        current = selected or self.recipe_path()
        self.recipe.blockSignals(True)
        self.recipe.clear()
        for label, path in recipes:
            self.recipe.addItem(label, path)
            self.recipe.setItemData(self.recipe.count() - 1, plain_tooltip(path), Qt.ItemDataRole.ToolTipRole)
        index = self.recipe.findData(current) if current else -1
        self.recipe.setCurrentIndex(index if index >= 0 else (0 if recipes else -1))
        self.recipe.blockSignals(False)
        self._recipe_before = self.recipe_path()
        if self._recipe_before:
            self.messages.dismiss_containing("Choose a recipe first")

    def recipe_path(self) -> str:
        return self.recipe.currentData() or ""

    def select_recipe(self, path: str) -> bool:
        """Select a listed recipe without asking anything (False when it is not listed)."""
        index = self.recipe.findData(path)
        if index < 0:
            return False
        self.recipe.blockSignals(True)
        self.recipe.setCurrentIndex(index)
        self.recipe.blockSignals(False)
        self._recipe_before = path
        self.messages.dismiss_containing("Choose a recipe first")
        return True

    def _recipe_chosen(self, _index: int) -> None:
        path = self.recipe_path()
        if self._running and path != self._recipe_before:
            self.select_recipe(self._recipe_before)  # held back until the operator confirms
            self.recipe_switch_requested.emit(path)
            return
        self._recipe_before = path
        if path:
            self.messages.dismiss_containing("Choose a recipe first")

    def lot_text(self) -> str:
        """The lot / order typed for the next run (stripped; empty: none)."""
        return " ".join(self.lot.text().split())

    # -- state -------------------------------------------------------------------------------------
    def _start_key(self) -> None:
        if self.start.isEnabled() and (self.isVisible() or self._operator_view_shown()):
            self.start_requested.emit()

    def _stop_key(self) -> None:
        if self.stop.isEnabled() and (self.isVisible() or self._operator_view_shown()):
            self.stop_requested.emit()

    def _operator_view_shown(self) -> bool:
        window = self.window()
        view = getattr(window, "operator_view", None)
        return view is not None and view.isVisible()

    def set_running(self, running: bool, *, preview: bool = False) -> None:
        self._running = running
        self.running_changed.emit(running)
        self._recipe_before = self.recipe_path()
        self.start.setEnabled(not running)
        self.stop.setEnabled(running)
        for widget in (  # the recipe stays enabled: choosing another one asks to stop the run first
            self.source_kind,
            self.source_target,
            self.browse,
            self.play_live,
            self.open_recipe,
            self.lot,
        ):
            widget.setEnabled(not running)
        if running:
            self.preview_title.setVisible(preview)
            self.preview.setVisible(preview)
            if preview:
                self.preview.clear_view("Connecting…")
            self.overlay.setFocus()
        else:
            self._kind_changed()

    def set_stage(self, text: str) -> None:
        self.stage.setText(text)

    def reset(self, threshold: float | None, band: tuple[float, float] | None) -> None:
        self.trend.clear_points()
        self.trend.set_threshold(threshold, band)
        self.badge.set_verdict(None)
        self.caption.setText("")
        self.defect.setText("")
        self.part_label.setText("")
        self.overlay.clear_view("Waiting for the first part…")
        self.flagged.clear()
        for tile in self.counters.values():
            tile.set_value(0)

    def show_part(self, part: PreparedPart, band: tuple[float, float] | None, random_weights: bool) -> None:
        """Paint a scored part; the badge, score and outline all belong to this one frame."""
        self.overlay.set_part(part)
        note = "RANDOM WEIGHTS — meaningless" if random_weights or part.random_weights else ""
        if part.wrong_part:
            note = " · ".join(n for n in (part.identity_reason or "not the recipe's part", note) if n)
        self.badge.set_verdict(part.shown_verdict, part.score, part.threshold, band=band, note=note)
        name = Path(part.path).name if part.path else part.source_id
        self.part_label.setText(f"{name}  ·  part {part.index + 1}")  # counted from 1, as Inspected is
        self.caption.setText("")
        self.defect.setText("")
        self.last_shown = ShownPart(part, band, note, name)
        self.part_shown.emit(self.last_shown)

    def show_frame(self, frame: np.ndarray) -> None:
        self.preview.set_frame(frame)
        self.frames_shown += 1

    def add_flagged(self, text: str, verdict: str, inspection_id: str | None) -> None:
        item = QListWidgetItem(text)
        item.setToolTip(plain_tooltip(text))
        item.setForeground(QColor(VERDICT_COLOURS.get(verdict, "#6b7785")))
        item.setData(Qt.ItemDataRole.UserRole, inspection_id)
        self.flagged.insertItem(0, item)
        while self.flagged.count() > 200:
            self.flagged.takeItem(self.flagged.count() - 1)

    def set_caption(
        self, caption: str | None, defect_type: str | None, pending: bool = False, off: bool = False
    ) -> None:
        self.defect.setText(defect_type or ("…" if pending else "—"))
        if off:
            self.caption.setText("Captions are off (Station ▸ Settings).")
        else:
            self.caption.setText(caption or ("Caption pending…" if pending else ""))

    def set_counters(
        self, *, inspected: int, failed: int, uncertain: int, overridden: int, rate: float, dropped: int
    ) -> None:
        values = {
            "inspected": inspected,
            "failed": failed,
            "uncertain": uncertain,
            "overridden": overridden,
            "rate": rate,
            "dropped": dropped,
        }
        for key, value in values.items():
            self.counters[key].set_value(value)
        self.counters_changed.emit(values)
