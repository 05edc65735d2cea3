"""Small widgets shared by the screens: the verdict badge, counters, non-blocking messages."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.theme import NEUTRAL_COLOUR, VERDICT_COLOURS, VERDICT_TEXT


def fmt_score(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


class VerdictBadge(QFrame):
    """The big PASS / FAIL / UNCERTAIN plate, with the score against the threshold under it."""

    def __init__(self, parent: QWidget | None = None, *, size: int = 44) -> None:
        super().__init__(parent)
        self.setObjectName("verdictBadge")
        # at least its lines' height for its width (wrapped ones included), never squeezed below it;
        # a Fixed policy capped it at the unwrapped height and the wrapped lines drew over each other
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 12)
        layout.setSpacing(2)
        self.text = QLabel("—")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("waiting for a part")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.limits = QLabel("")
        self.limits.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.limits.setWordWrap(True)
        self.note = QLabel("")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)  # a wrong part's reason is a sentence
        self.note.setVisible(False)
        layout.addWidget(self.text)
        layout.addWidget(self.detail)
        layout.addWidget(self.limits)
        layout.addWidget(self.note)
        self._size = size
        self.verdict: str | None = None
        self._paint(None)

    def set_verdict(
        self,
        verdict: str | None,
        score: float | None = None,
        threshold: float | None = None,
        *,
        band: tuple[float, float] | None = None,
        note: str = "",
    ) -> None:
        self.verdict = str(verdict) if verdict else None
        self.text.setText(VERDICT_TEXT.get(self.verdict or "", "—"))
        if score is None:
            self.detail.setText("waiting for a part" if verdict is None else "")
            self.limits.setText("")
        else:
            self.detail.setText(f"score {fmt_score(score)}")
            limit = f"threshold {fmt_score(threshold)}"
            if band:
                limit += f"  ·  uncertain {fmt_score(band[0])}–{fmt_score(band[1])}"
            self.limits.setText(limit)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self._paint(self.verdict)
        self._fit_text()

    def _paint(self, verdict: str | None) -> None:
        """Colours come from one stylesheet with a rule per verdict: a change only re-polishes."""
        if not getattr(self, "_styled", False):
            self._styled = True
            rules = [
                f"QFrame#verdictBadge {{ background: {NEUTRAL_COLOUR}; border-radius: 10px; }}",
                "QFrame#verdictBadge QLabel { color: #ffffff; background: transparent; }",
            ]
            for name, bg in VERDICT_COLOURS.items():
                fg = "#1b1b1b" if name == "uncertain" else "#ffffff"
                rules.append(f'QFrame#verdictBadge[verdict="{name}"] {{ background: {bg}; }}')
                rules.append(f'QFrame#verdictBadge[verdict="{name}"] QLabel {{ color: {fg}; }}')
            self.setStyleSheet("\n".join(rules))
            self.detail.setFont(self._font(max(13, self._size // 2), QFont.Weight.Bold))
            self.limits.setFont(self._font(11, QFont.Weight.DemiBold))
            self.note.setFont(self._font(10, QFont.Weight.Bold))
        value = verdict or ""
        if self.property("verdict") != value:
            self.setProperty("verdict", value)
            for widget in (self, self.text, self.detail, self.limits, self.note):
                widget.style().unpolish(widget)
                widget.style().polish(widget)

    def set_base_size(self, size: int) -> None:
        """Scale the badge (the operator view sizes it to the panel)."""
        if size == self._size:
            return
        self._size = size
        self.detail.setFont(self._font(max(13, size // 2), QFont.Weight.Bold))
        self.limits.setFont(self._font(max(11, size // 4), QFont.Weight.DemiBold))
        self.note.setFont(self._font(max(10, size // 4), QFont.Weight.Bold))
        self._text_size = None
        self._fit_text()

    def _font(self, points: int, weight: QFont.Weight) -> QFont:
        font = QFont(self.font())
        font.setPointSize(points)
        font.setWeight(weight)
        return font

    def _fitting_size(self, text: str, largest: int, weight: QFont.Weight, spacing: int = 0) -> int:
        """The largest point size (up to ``largest``) at which one line of ``text`` fits the badge's width."""
        room = max(120, self.width() - 40)
        size = largest
        font = QFont(self.font())
        font.setWeight(weight)
        while size > 12:
            font.setPointSize(size)
            font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, spacing)
            if QFontMetrics(font).horizontalAdvance(text) <= room:
                break
            size -= 2
        return size

    def _fit_text(self) -> None:
        """The verdict and the score are one line each: their fonts shrink to the badge's width (the
        threshold line and the note wrap instead)."""
        size = self._fitting_size(self.text.text(), self._size, QFont.Weight.ExtraBold, 2)
        if size != getattr(self, "_text_size", None):
            self._text_size = size
            font = self._font(size, QFont.Weight.ExtraBold)
            font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 2)
            self.text.setFont(font)
        detail = self._fitting_size(self.detail.text(), max(13, self._size // 2), QFont.Weight.Bold)
        if detail != self.detail.font().pointSize():
            self.detail.setFont(self._font(detail, QFont.Weight.Bold))
        self._follow_height()

    def _wanted_height(self) -> int:
        """The height the labels need at the badge's present width, wrapped lines included."""
        layout = self.layout()
        if layout is None:
            return 0
        if layout.hasHeightForWidth():
            return layout.totalHeightForWidth(max(self.width(), 120))
        return layout.totalSizeHint().height()

    def _follow_height(self) -> None:
        """The size policy is fixed vertically: the hint follows the wrapped lines, so none overlaps."""
        wanted = self._wanted_height()
        if wanted != getattr(self, "_height", None):
            self._height = wanted
            self.updateGeometry()

    def sizeHint(self):  # noqa: N802
        hint = super().sizeHint()
        hint.setHeight(max(hint.height(), self._wanted_height()))
        return hint

    def minimumSizeHint(self):  # noqa: N802
        hint = super().minimumSizeHint()
        hint.setHeight(max(hint.height(), self._wanted_height()))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_text()


class CounterTile(QFrame):
    """A big number with a caption (inspected, failed, ...)."""

    def __init__(self, caption: str, parent: QWidget | None = None, colour: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        self.value = QLabel("0")
        self.value.setObjectName("counterValue")
        self.value.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._colour = colour
        if colour:
            self.value.setStyleSheet(f"color: {colour};")
        self.caption = QLabel(caption)
        self.caption.setObjectName("counterCaption")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set_scale(self, value_pt: int, caption_pt: int) -> None:
        """Bigger numbers (the operator view); the style sheet's sizes otherwise."""
        colour = f"color: {self._colour};" if self._colour else ""
        self.value.setStyleSheet(f"{colour} font-size: {value_pt}pt;")
        self.caption.setStyleSheet(f"font-size: {caption_pt}pt;")

    def set_value(self, value: int | float | str) -> None:
        text = f"{value:.1f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
        if self.value.text() != text:
            self.value.setText(text)


class _Message(QFrame):
    closed = Signal(object)

    def __init__(self, text: str, level: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName({"info": "messageInfo", "warning": "messageWarning"}.get(level, "messageError"))
        self.level = level
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        icon = QLabel({"info": "ℹ", "warning": "⚠"}.get(level, "✖"))
        icon.setStyleSheet("font-size: 14pt;")
        self.label = QLabel(text)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and typed text
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(lambda: self.closed.emit(self))
        layout.addWidget(icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)


class MessageBar(QWidget):
    """Non-blocking messages stacked at the top of a screen; info messages fade out by themselves.

    Repeats of the same text are merged (a flapping camera does not fill the screen).
    """

    MAX = 3
    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, info_timeout_ms: int = 8000) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._timeout = info_timeout_ms
        self.messages: list[_Message] = []
        self.setVisible(False)

    def show_message(self, text: str, level: str = "info") -> None:
        for existing in self.messages:
            if existing.label.text() == text:
                return
        message = _Message(text, level, self)
        message.closed.connect(self._remove)
        self.messages.append(message)
        self._layout.addWidget(message)
        while len(self.messages) > self.MAX:
            self._remove(self.messages[0])
        if level == "info" and self._timeout > 0:
            # the message is the timer's context: no call once it (or this bar) is gone
            QTimer.singleShot(self._timeout, message, lambda m=message: self._remove(m))
        self.setVisible(True)
        self.changed.emit()

    def texts(self) -> list[str]:
        return [m.label.text() for m in self.messages]

    def clear(self) -> None:
        for message in list(self.messages):
            self._remove(message)

    def dismiss_containing(self, text: str) -> None:
        """Take back the messages that contain ``text`` (their condition is over)."""
        for message in list(self.messages):
            if text in message.label.text():
                self._remove(message)

    def _remove(self, message: _Message) -> None:
        if message in self.messages:
            self.messages.remove(message)
            message.setParent(None)
            message.deleteLater()
            self.changed.emit()
        self.setVisible(bool(self.messages))


class BannerArea(QWidget):
    """Every banner of a screen (messages, the first-run panel) in one area that can be folded to a
    single line and scrolls rather than pushing the screen's controls off the bottom."""

    def __init__(self, messages: MessageBar, parent: QWidget | None = None, *, max_height: int = 240) -> None:
        super().__init__(parent)
        self.messages = messages
        self._panels: list[QWidget] = []
        self.toggle = QToolButton()
        self.toggle.setObjectName("bannerToggle")
        self.toggle.setCheckable(True)
        self.toggle.setChecked(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.toggle.toggled.connect(self._toggled)
        self.dismiss = QPushButton("Dismiss all")
        self.dismiss.setFlat(True)
        self.dismiss.clicked.connect(messages.clear)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.toggle)
        head.addStretch(1)
        head.addWidget(self.dismiss)
        self._inner = QWidget()
        self._inner_layout = QVBoxLayout(self._inner)
        self._inner_layout.setContentsMargins(0, 0, 0, 0)
        self._inner_layout.setSpacing(4)
        self._inner_layout.addWidget(messages)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self._inner)
        self.scroll.setMaximumHeight(max_height)
        self.scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        layout.addLayout(head)
        layout.addWidget(self.scroll)
        messages.changed.connect(self._update)
        self._update()

    def add_panel(self, panel: QWidget) -> None:
        """A panel shown above the messages (it shows and hides itself; the area follows)."""
        self._panels.append(panel)
        self._inner_layout.insertWidget(len(self._panels) - 1, panel)
        panel.installEventFilter(self)
        self._update()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched in self._panels and event.type() in (
            QEvent.Type.ShowToParent,
            QEvent.Type.HideToParent,
        ):  # (sent also while this area is hidden, unlike Show and Hide)
            self._update()
        return False

    def count(self) -> int:
        return len(self.messages.messages) + sum(p.isVisibleTo(self._inner) for p in self._panels)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def _toggled(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self._update()

    def _update(self) -> None:
        n = self.count()
        self.setVisible(n > 0)
        self.toggle.setText(f"{n} message{'s' if n != 1 else ''}" + ("" if self.expanded else " (folded)"))
        self.scroll.setVisible(self.expanded)
        self.dismiss.setVisible(bool(self.messages.messages))
        self._inner.adjustSize()
        self.scroll.setMinimumHeight(min(self._inner.sizeHint().height(), 72) if self.expanded else 0)


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" instead of widening the window (the whole text
    is its tooltip): the status bar holds at any window width."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        natural_width: int = 360,
        elide: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(text, parent)
        self._natural_width = natural_width  # the most it asks for; it shortens below that
        self._elide = elide  # ElideMiddle for a file name: its end tells files apart
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(24)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text if len(text) < 400 else text[:400] + "…")
        self.updateGeometry()

    def minimumSizeHint(self):  # noqa: N802
        hint = super().minimumSizeHint()
        hint.setWidth(min(hint.width(), 60))
        return hint

    def sizeHint(self):  # noqa: N802
        hint = super().sizeHint()
        hint.setWidth(min(hint.width() + 2 * 6, self._natural_width))  # the painted text's side margins
        return hint

    def paintEvent(self, event) -> None:  # noqa: N802
        if self.textFormat() != Qt.TextFormat.PlainText:  # only plain text is elided (and user text is plain)
            super().paintEvent(event)
            return
        painter = QPainter(self)
        rect = self.contentsRect()
        margin = self.margin() + 6
        rect.adjust(margin, 0, -margin, 0)
        elided = self.fontMetrics().elidedText(self.text(), self._elide, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), elided)


def section_title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


def random_weights_badge(text: str = "RANDOM WEIGHTS (demo)") -> QLabel:
    label = QLabel(text)
    label.setObjectName("randomBadge")
    label.setToolTip(
        "The models were built with random weights (started with --random-weights). "
        "Scores, heatmaps and verdicts mean nothing; they are marked so in the database."
    )
    return label
