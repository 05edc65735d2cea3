"""The review screen's decisions: P / F / U, defect label, note and undo, each an operation on the
database-writer thread and an append-only audit row under the operator's name.

:class:`ReviewDecisions` is the decisions half of :class:`~inspector.ui.review_queue.ReviewQueue`
(which supplies the station, the detail view, the table model and the message bar).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QInputDialog, QWidget

from inspector.pipeline import OverrideWritten
from inspector.store import InspectionRecord, Verdict
from inspector.ui.theme import VERDICT_TEXT
from inspector.ui.workers import describe_error


def ask_label(parent: QWidget, classes: tuple[str, ...], current: str | None) -> str | None:
    """Ask for a defect label (the recipe's classes offered, any text accepted). None: cancelled."""
    items = list(classes) or [""]
    if current and current not in items:
        items.insert(0, current)
    index = items.index(current) if current in items else 0
    text, ok = QInputDialog.getItem(parent, "Defect label", "Defect label (empty clears it):", items, index, True)
    return text.strip() if ok else None


def ask_note(parent: QWidget) -> str | None:
    text, ok = QInputDialog.getText(parent, "Note", "Note for this part (kept in its history):")
    return text.strip() if ok and text.strip() else None


class ReviewDecisions:
    """Decisions on the part on screen; mixed into the review screen (see the module docstring)."""

    def _target(self) -> InspectionRecord | None:
        """The part on screen (never merely the selected row: the two may differ while a part loads)."""
        record = self.shown_record()
        if record is None:
            waiting = self._detail_for is not None
            self.messages.show_message("Wait for the part to load." if waiting else "Select a part first.", "info")
        return record

    def _decide(self, record: InspectionRecord, fn, *, advance: bool, undo: bool = False) -> None:
        ops = self.station.ops
        if ops is None:
            return
        if not self.station.operator:
            self.messages.show_message(
                "Log in first (Station ▸ Switch operator, Ctrl+L): every decision is recorded under your name.",
                "warning",
            )
            return

        def done(_row) -> None:
            if not undo:
                self._undo_stack.append(record.id)
            self.override_done.emit(record.id)

        ops.run(
            fn,
            notify=OverrideWritten((record.id,)),
            on_done=done,
            on_error=lambda exc: self.messages.show_message(describe_error(exc), "warning"),
        )
        if advance and self.advance.isChecked():
            self.next_part()

    def relabel(self, verdict: Verdict) -> None:
        record = self._target()
        if record is None:
            return
        self._decide(record, self.verdict_operation(record.id, verdict), advance=True)

    def verdict_operation(self, part: str, verdict: Verdict):
        """The database operation giving ``part`` the operator's ``verdict`` (a defect label it has is
        kept unless the verdict is PASS); run on the writer thread."""
        operator = self.station.operator

        def decide(store):  # on the writer thread: the part's state after every earlier decision
            label = store.get(part).effective_defect_label if verdict is not Verdict.PASS else None
            return store.add_override(part, operator, verdict, defect_label=label)

        return decide

    def decide_part(self, part: str, verdict: Verdict, done: Callable[[str], None]) -> None:
        """A verdict for one part from outside the review screen (the operator view): the same
        operation and audit row as P / F / U here; ``done`` gets a sentence saying what happened."""
        ops = self.station.ops
        if ops is None or not self.station.operator:
            done("Log in first (Ctrl+L): every decision is recorded under your name.")
            return
        operator = self.station.operator

        def recorded(_row) -> None:
            self._undo_stack.append(part)
            self.override_done.emit(part)
            done(f"Recorded {VERDICT_TEXT[verdict.value]} by {operator} (Ctrl+Z in Review undoes it).")

        ops.run(
            self.verdict_operation(part, verdict),
            notify=OverrideWritten((part,)),
            on_done=recorded,
            on_error=lambda exc: done(f"Not recorded: {describe_error(exc)}"),
        )

    def edit_label(self) -> None:
        record = self._target()
        if record is None:
            return
        data = self.detail.data
        classes = data.defect_classes if data is not None and data.record.id == record.id else ()
        label = self.ask_label(self, classes, record.effective_defect_label)
        if label is None:
            return
        operator, part = self.station.operator, record.id

        def decide(store):
            return store.add_override(part, operator, store.get(part).effective_verdict, defect_label=label or None)

        self._decide(record, decide, advance=False)

    def edit_note(self) -> None:
        record = self._target()
        if record is None:
            return
        note = self.ask_note(self)
        if note is None:
            return
        operator, part = self.station.operator, record.id

        def decide(store):
            current = store.get(part)
            return store.add_override(
                part, operator, current.effective_verdict, defect_label=current.effective_defect_label, note=note
            )

        self._decide(record, decide, advance=False)

    def undo(self) -> None:
        """Undo this session's last decision (the part is selected again), else the selected part's last one."""
        ops, operator = self.station.ops, self.station.operator
        if ops is None:
            return
        if self._undo_stack:
            target_id = self._undo_stack.pop()
        else:
            record = self._target()
            if record is None:
                return
            target_id = record.id
        row = self.model.row_of(target_id)
        if row is not None and row != self.current_row():
            self.select_row(row)
        ops.run(
            lambda s: s.undo_last_override(target_id, operator),
            notify=OverrideWritten((target_id,)),
            on_done=lambda _r: self.override_done.emit(target_id),
            on_error=lambda exc: self.messages.show_message(describe_error(exc), "info"),
        )
