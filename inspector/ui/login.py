"""Log-in at the start of a shift: by name, and with a PIN when the station's policy asks for one.

Who may log in, their PINs and the policy live in the database (``inspector.store.accounts``);
the PIN check (scrypt, a database write for the failure count) runs off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QWidget

from inspector.store.accounts import Policy
from inspector.ui.pin_form import Submit, dialog_column, error_label, name_box, ok_cancel, pin_edit, run_check
from inspector.ui.plain_text import plain_labels
from inspector.ui.workers import describe_error

#: ``check(name, pin, choose)`` logs ``name`` in (``choose``: first set ``pin`` as their new PIN);
#: raises with a message for the operator when refused.
LoginCheck = Callable[[str, str, bool], Any]


class LoginDialog(QDialog):
    """Asks who is at the station. Every decision is recorded under this name.

    With PINs required, an operator who has no PIN yet chooses one here (typed twice); later
    log-ins must give it. Wrong PINs lock the operator out for a while (the message says how long).
    """

    def __init__(
        self,
        operators: list[str] | None = None,
        *,
        policy: Policy | None = None,
        check: LoginCheck | None = None,
        submit: Submit | None = None,
        name: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Inspector — who is at the station?")
        self.setMinimumWidth(420)
        self.policy = policy or Policy()
        self._check = check
        self._submit = submit
        self._choosing = False
        self.operator = ""
        title = QLabel("Log in")
        title.setObjectName("firstRunTitle")
        hint = QLabel("Your name goes with every decision you make (the audit trail).")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        self.name = name_box(operators or [], name)
        self.name.lineEdit().setPlaceholderText("Your name")
        self.pin = pin_edit()
        self.pin_again = pin_edit("the new PIN again")
        self.error = error_label()
        self.form = QFormLayout()
        self.form.addRow("Name", self.name)
        if self.policy.require_pin:
            self.form.addRow("PIN", self.pin)
            self.form.addRow("Again", self.pin_again)
            self.form.setRowVisible(self.pin_again, False)
        self.buttons = ok_cancel(self, "Log in", self._try_accept)
        dialog_column(self, title, hint, self.form, self.error, self.buttons)
        plain_labels(self)  # names are user-typed
        (self.pin if name and self.policy.require_pin else self.name).setFocus(Qt.FocusReason.OtherFocusReason)

    def set_operators(self, operators: list[str]) -> None:
        text = self.name.currentText()
        self.name.clear()
        self.name.addItems(sorted(set(operators)))
        self.name.setEditText(text)

    def _try_accept(self) -> None:
        name = " ".join(self.name.currentText().split())
        if not name:
            self.error.setText("Enter your name.")
            return
        pin = self.pin.text().strip()
        if self._choosing and pin != self.pin_again.text().strip():
            self.error.setText("The two PINs differ: type the new PIN twice.")
            return
        if self._check is None:
            self._accepted(name)
            return
        self.buttons.setEnabled(False)
        self.error.setText("Checking…")
        choose = self._choosing
        run_check(
            lambda: self._check(name, pin, choose), self._submit, lambda _who: self._accepted(name), self._refused
        )

    def _accepted(self, name: str) -> None:
        self.operator = name
        self.accept()

    def _refused(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        text = describe_error(exc)
        self.pin.clear()
        self.pin_again.clear()
        if "no PIN yet" in text and self.policy.require_pin:
            self._choosing = True
            self.form.setRowVisible(self.pin_again, True)
            text = f"{text} At least {self.policy.min_pin_length} digits, typed twice."
        self.error.setText(text)
