"""The review detail's caption: what the captioner said, editable, with a "Save correction" action.

A correction is an append-only row under the logged-in operator's name (and an audit-chain entry),
written on the window's database thread; the captioner's caption is kept and shown beside it. The
newest correction is the part's effective caption (reports show it, and the captioner learns from
it: ``inspector train-captioner --from-reviews``).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.store import CaptionCorrectionRecord, InspectionRecord
from inspector.store.domain import MAX_CAPTION_CHARS


class CaptionEditor(QWidget):
    """An editable caption line; ``save_requested(inspection_id, text)`` when the operator saves it."""

    save_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: InspectionRecord | None = None
        self.text = QLineEdit()
        self.text.setMaxLength(MAX_CAPTION_CHARS)
        self.text.setPlaceholderText("Describe the defect in the plant's words")
        self.text.setToolTip("Correct the caption in the plant's words; Enter or Save correction records it")
        self.save = QPushButton("Save correction")
        self.save.setToolTip("Recorded under your name; the captioner's caption is kept")
        self.origin = QLabel("")
        self.origin.setObjectName("muted")
        self.origin.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.save)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.origin)
        self.save.clicked.connect(self._save)
        self.text.returnPressed.connect(self._save)
        self.text.textEdited.connect(lambda _t: self._update_button())
        self.set_record(None)

    def set_record(self, record: InspectionRecord | None) -> None:
        self.record = record
        self.text.setText((record.effective_caption or "") if record is not None else "")
        self.text.setEnabled(record is not None)
        if record is None:
            self.origin.setText("")
        elif record.caption_corrected:
            when = (
                record.caption_corrected_at.astimezone().strftime("%Y-%m-%d %H:%M")
                if record.caption_corrected_at
                else ""
            )
            said = record.caption or "(nothing)"
            self.origin.setText(f"Corrected by {record.caption_corrected_by} {when}; the captioner said: {said}")
        elif record.caption:
            self.origin.setText("From the captioner (not corrected): correct it in the plant's words")
        else:
            self.origin.setText("No caption yet: type one to record it")
        self._update_button()

    def _update_button(self) -> None:
        current = (self.record.effective_caption or "") if self.record is not None else ""
        text = self.text.text().strip()
        self.save.setEnabled(self.record is not None and bool(text) and text != current.strip())

    def _save(self) -> None:
        if self.record is not None and self.save.isEnabled():
            self.save_requested.emit(self.record.id, self.text.text())


def correction_text(c: CaptionCorrectionRecord) -> str:
    """One line of the part's history for a caption correction."""
    return f"{c.created_at.astimezone():%Y-%m-%d %H:%M}  {c.operator}: caption “{c.caption}”"


def add_corrections(history: QListWidget, corrections) -> None:
    """List the caption corrections (newest first) below the verdict decisions in the detail's history."""
    for c in reversed(tuple(corrections)):
        history.addItem(QListWidgetItem(correction_text(c)))


def attach_caption_editor(queue) -> CaptionEditor:
    """Put a caption editor into the review queue's detail view and record its corrections.

    The correction runs on the window's database thread (``station.ops``) under the logged-in
    operator; the part's detail reloads when it is stored (an ``override``-kind change).
    """
    from inspector.ui.workers import OpChange, describe_error

    editor = queue.detail.caption_editor

    def save(inspection_id: str, text: str) -> None:
        ops, operator = queue.station.ops, queue.station.operator
        if ops is None:
            return
        if not operator:
            queue.messages.show_message(
                "Log in first (Station ▸ Switch operator, Ctrl+L): a correction is recorded under your name.", "warning"
            )
            return
        ops.run(
            lambda store: store.correct_caption(inspection_id, operator, text),
            change=OpChange("override", (inspection_id,)),
            on_done=lambda c: queue.messages.show_message(f"Caption corrected by {c.operator}.", "info"),
            on_error=lambda exc: queue.messages.show_message(describe_error(exc), "warning"),
        )

    editor.save_requested.connect(save)
    return editor
