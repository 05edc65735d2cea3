"""The parts the log-in and the sign dialogs share (:mod:`inspector.ui.login`, :mod:`inspector.ui.sign_dialog`):
a name box over the station's operators, a masked PIN field, the red message line, the OK / Cancel pair,
the dialog's column, and running the PIN check off the GUI thread (or here, when no runner is given)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

#: ``submit(job, on_done, on_error)``: run ``job()`` off the GUI thread, call back on it.
Submit = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[BaseException], None]], Any]


def name_box(operators: Iterable[str], text: str = "") -> QComboBox:
    """An editable name field offering the operators' names (sorted, once each), showing ``text``."""
    box = QComboBox()
    box.setEditable(True)
    box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    box.addItems(sorted(set(operators)))
    box.setEditText(text)
    return box


def pin_edit(placeholder: str = "PIN") -> QLineEdit:
    """A masked PIN field."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


def error_label() -> QLabel:
    """The dialog's message line (refusals, what is missing), red and wrapped."""
    label = QLabel("")
    label.setStyleSheet("color: #d93025; font-weight: 600;")
    label.setWordWrap(True)
    return label


def ok_cancel(dialog: QDialog, ok_text: str, on_ok: Callable[[], None]) -> QDialogButtonBox:
    """OK (named ``ok_text``, calling ``on_ok``) and Cancel (rejecting the dialog)."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(on_ok)
    buttons.rejected.connect(dialog.reject)
    return buttons


def dialog_column(
    dialog: QDialog, title: QLabel, hint: QLabel, form: QFormLayout, error: QLabel, buttons: QDialogButtonBox
) -> QVBoxLayout:
    """The dialog's layout: title, hint, the form, the message line, the buttons."""
    layout = QVBoxLayout(dialog)
    layout.addWidget(title)
    layout.addWidget(hint)
    layout.addLayout(form)
    layout.addWidget(error)
    layout.addWidget(buttons)
    return layout


def run_check(
    job: Callable[[], Any],
    submit: Submit | None,
    on_done: Callable[[Any], None],
    on_refused: Callable[[BaseException], None],
) -> None:
    """``job()`` through ``submit`` (off the GUI thread), or right here when ``submit`` is None; then
    ``on_done(its result)`` or ``on_refused(the exception)``, whose message is shown to the operator."""
    if submit is not None:
        submit(job, on_done, on_refused)
        return
    try:
        value = job()
    except Exception as exc:  # noqa: BLE001 - shown to the operator
        on_refused(exc)
    else:
        on_done(value)
