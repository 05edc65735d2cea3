"""Log-in by name at the start of a shift (a PIN only when the settings ask for one)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.settings import StationSettings


class LoginDialog(QDialog):
    """Asks who is at the station. Every override is recorded under this name.

    With ``require_pin`` set in the settings, an operator who has no PIN yet chooses one at this
    log-in (at least 4 digits); later log-ins must give it.
    """

    def __init__(
        self, settings: StationSettings, operators: list[str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Inspector — who is at the station?")
        self.setMinimumWidth(420)
        self.settings = settings
        self.operator = ""
        title = QLabel("Log in")
        title.setObjectName("firstRunTitle")
        hint = QLabel("Your name goes with every decision you make (the audit trail).")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name.lineEdit().setPlaceholderText("Your name")
        self.set_operators(operators or [])
        if settings.last_operator:
            self.name.setEditText(settings.last_operator)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText("PIN")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d93025; font-weight: 600;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name)
        if settings.require_pin:
            form.addRow("PIN", self.pin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Log in")
        buttons.accepted.connect(self._try_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.name.setFocus(Qt.FocusReason.OtherFocusReason)

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
        if self.settings.require_pin:
            pin = self.pin.text().strip()
            if name in self.settings.pins:
                if not self.settings.check_pin(name, pin):
                    self.error.setText("Wrong PIN. Ask your supervisor to reset it in the settings if you forgot it.")
                    self.pin.clear()
                    return
            else:
                if len(pin) < 4 or not pin.isdigit():
                    self.error.setText(f"{name} has no PIN yet: choose one of at least 4 digits.")
                    return
                self.settings = self.settings.with_pin(name, pin)
        self.operator = name
        self.accept()
