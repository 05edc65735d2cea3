"""The full-screen operator view (F11): the part, the verdict and the counters sized to the panel, read at
arm's length, with the decisions on big buttons for a touch screen and on single keys.

It repeats what the live screen paints (``LiveView.part_shown`` / ``counters_changed``) and paints
nothing else; a decision is the same operation as in the review queue (``decide``), recorded under
the operator's name in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from inspector.store import Verdict
from inspector.ui.heatmap_overlay import OverlayView
from inspector.ui.live_view import ShownPart
from inspector.ui.plain_text import plain_labels
from inspector.ui.theme import VERDICT_COLOURS, VERDICT_TEXT
from inspector.ui.widgets import CounterTile, VerdictBadge

COUNTERS = (("inspected", "Inspected"), ("failed", "Failed"), ("uncertain", "Uncertain"), ("rate", "Images / s"))
Decide = Callable[[str, Verdict, Callable[[str], None]], None]  # (part id, verdict, done(message))


class OperatorView(QWidget):
    """A window of its own, shown full screen on the station's monitor."""

    start_requested = Signal()
    stop_requested = Signal()
    closed = Signal()

    def __init__(self, decide: Decide, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Inspector — operator view (F11 or Esc to leave)")
        self.setObjectName("operatorView")
        # its own minimum, not the layout's: fonts follow the panel, so the layout's minimum at 4K would
        # keep the view from shrinking onto a smaller monitor (it stayed 1558x1488 after a 4K panel)
        self.setMinimumSize(640, 480)
        self._decide = decide
        self.shown: ShownPart | None = None
        self.overlay = OverlayView(placeholder="Waiting for a part", interactive=False)
        self.name = QLabel("")
        self.name.setObjectName("muted")
        self.badge = VerdictBadge(size=96)
        colours = {"failed": VERDICT_COLOURS["fail"], "uncertain": VERDICT_COLOURS["uncertain"]}
        self.counters = {key: CounterTile(text, colour=colours.get(key)) for key, text in COUNTERS}
        self.feedback = QLabel("")
        self.feedback.setWordWrap(True)
        self.feedback.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.buttons: dict[str, QPushButton] = {}
        decisions = QHBoxLayout()
        for verdict, key in ((Verdict.PASS, "P"), (Verdict.FAIL, "F"), (Verdict.UNCERTAIN, "U")):
            button = QPushButton(f"{VERDICT_TEXT[verdict.value]}  ({key})")
            button.setObjectName("touchDecision")
            colour = VERDICT_COLOURS[verdict.value]
            button.setStyleSheet(
                f"QPushButton#touchDecision {{ border: 4px solid {colour}; border-radius: 10px; font-weight: 800; }}"
            )
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setProperty("verdict", verdict.value)
            button.clicked.connect(self._decision_clicked)
            self.buttons[verdict.value] = button
            decisions.addWidget(button)
        self.start = QPushButton("▶  Start (F5)")
        self.start.setObjectName("primary")
        self.stop = QPushButton("■  Stop (F6)")
        self.stop.setObjectName("danger")
        self.leave = QPushButton("Leave (Esc)")
        for button in (self.start, self.stop, self.leave):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.start.clicked.connect(self.start_requested)
        self.stop.clicked.connect(self.stop_requested)
        self.leave.clicked.connect(self.close)
        run_row = QHBoxLayout()
        run_row.addWidget(self.start)
        run_row.addWidget(self.stop)
        run_row.addWidget(self.leave)
        grid = QGridLayout()
        for i, tile in enumerate(self.counters.values()):
            grid.addWidget(tile, i // 2, i % 2)

        left = QVBoxLayout()
        left.addWidget(self.overlay, 1)
        left.addWidget(self.name)
        right = QVBoxLayout()
        right.addLayout(run_row, 1)
        right.addWidget(self.badge)
        right.addLayout(grid, 2)
        right.addWidget(self.feedback)
        right.addLayout(decisions, 2)
        self._right = QWidget()
        self._right.setLayout(right)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addLayout(left, 3)
        layout.addWidget(self._right, 2)

        for key, slot in (
            ("P", lambda: self.decide(Verdict.PASS)),
            ("F", lambda: self.decide(Verdict.FAIL)),
            ("U", lambda: self.decide(Verdict.UNCERTAIN)),
            ("F5", self.start_requested.emit),
            ("F6", self.stop_requested.emit),
            ("Esc", self.close),
            ("F11", self.close),
        ):
            QShortcut(QKeySequence(key), self, activated=slot, context=Qt.ShortcutContext.WindowShortcut)
        self.set_running(False)
        plain_labels(self)  # file names and messages are shown as typed

    # -- what the live screen paints -----------------------------------------------------------------
    def show_part(self, shown: ShownPart) -> None:
        self.shown = shown
        part = shown.part
        self.overlay.set_part(part)
        self.badge.set_verdict(part.shown_verdict, part.score, part.threshold, band=shown.band, note=shown.note)
        self.name.setText(f"{shown.name}  ·  part {part.index + 1}")
        self.feedback.setText("")
        for button in self.buttons.values():
            button.setEnabled(bool(part.inspection_id))

    def set_counters(self, values: dict) -> None:
        for key, tile in self.counters.items():
            if key in values:
                tile.set_value(values[key])

    def set_running(self, running: bool) -> None:
        self.start.setEnabled(not running)
        self.stop.setEnabled(running)

    # -- decisions -------------------------------------------------------------------------------------
    def _decision_clicked(self) -> None:
        self.decide(Verdict(self.sender().property("verdict")))

    def decide(self, verdict: Verdict) -> None:
        """Record the operator's verdict for the part on screen (the one the badge shows)."""
        shown = self.shown
        if shown is None or not shown.part.inspection_id:
            self.feedback.setText("No part on screen yet.")
            return
        name = shown.name
        self.feedback.setText(f"Recording {VERDICT_TEXT[verdict.value]} for {name} …")
        self._decide(shown.part.inspection_id, verdict, self.feedback.setText)

    # -- size ------------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._scale()

    def _scale(self) -> None:
        """Fonts follow the panel: the verdict about a tenth of the height, counters and buttons in step."""
        h = max(self.height(), 400)
        self.badge.set_base_size(max(28, h // 11))
        for tile in self.counters.values():
            tile.set_scale(max(18, h // 24), max(10, h // 70))
        for button in (*self.buttons.values(), self.start, self.stop, self.leave):
            font = QFont(button.font())
            font.setPointSize(max(12, h // 48))
            font.setBold(True)
            button.setFont(font)
            button.setMinimumHeight(max(56, h // 12))  # a finger's width and more
        font = QFont(self.feedback.font())
        font.setPointSize(max(11, h // 64))
        self.feedback.setFont(font)
        self.name.setFont(font)
        self._right.setMinimumWidth(max(360, min(self.width() // 3, 640)))

    def closeEvent(self, event) -> None:  # noqa: N802
        super().closeEvent(event)
        self.closed.emit()
