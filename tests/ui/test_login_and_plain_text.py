"""Log-in against the database (PINs, first PIN, --operator needs the PIN too), the audit status,
and user-typed text rendered literally everywhere in the window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from inspector.store import Verdict, open_store
from inspector.ui.login import LoginDialog
from tests.ui.conftest import WAIT_MS

IMG = "<img src='/usr/share/icons/hicolor/48x48/apps/inspector.png'>ana"
FAKE_PASS = "<b style='font-size:40pt; color:#1e8e3e'>PASS – approved</b>"


def _check(store):
    def check(name, pin, choose):
        if choose:
            store.accounts.add_operator(name, pin=pin)
        store.accounts.log_in(name, pin)

    return check


def test_login_dialog_checks_pins_in_the_database(qtbot, tmp_path):
    with open_store(tmp_path / "db.sqlite") as store:
        store.accounts.add_operator("ana", pin="4829")
        store.accounts.set_policy(require_pin=True)
        policy = store.accounts.policy()
        dialog = LoginDialog(["ana"], policy=policy, check=_check(store), name="ana")
        qtbot.addWidget(dialog)
        dialog.pin.setText("0000")
        dialog._try_accept()
        assert dialog.result() == 0 and "Wrong PIN" in dialog.error.text()
        dialog.pin.setText("4829")
        dialog._try_accept()
        assert dialog.result() == 1 and dialog.operator == "ana"

        first = LoginDialog([], policy=policy, check=_check(store), name="dan")  # a new operator
        qtbot.addWidget(first)
        first._try_accept()
        assert first.result() == 0 and "no PIN yet" in first.error.text() and first._choosing
        first.pin.setText("12")
        first.pin_again.setText("12")
        first._try_accept()
        assert first.result() == 0 and "at least 4" in first.error.text()
        first.pin.setText("4711")
        first.pin_again.setText("4711")
        first._try_accept()
        assert first.result() == 1 and store.accounts.get("dan").has_pin
        assert store.verify_audit().ok

    plain = LoginDialog(["ana"])  # PINs off: a name is enough
    qtbot.addWidget(plain)
    plain.name.setEditText("  carla ")
    plain._try_accept()
    assert plain.operator == "carla"


def test_operator_from_the_command_line_must_give_the_pin(qtbot, make_window, settings, monkeypatch):
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with open_store(settings.database_path) as store:
        store.accounts.add_operator("ana", pin="4829")
        store.accounts.set_policy(require_pin=True)
    asked = []

    class Answer(LoginDialog):
        def exec(self):
            asked.append((self.name.currentText(), self.policy.require_pin))
            self.pin.setText("4829")
            self._submit = None  # check at once, in this thread
            self._try_accept()
            return self.result()

    monkeypatch.setattr("inspector.ui.main_window.LoginDialog", Answer)
    monkeypatch.delenv("INSPECTOR_PIN", raising=False)
    window = make_window(operator="ana")
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT_MS)
    assert asked == [("ana", True)]
    qtbot.waitUntil(lambda: window.station.operator == "ana", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "verified" in window.audit_label.text(), timeout=WAIT_MS)
    assert window.audit_report.ok


def _rendered_like(label: QLabel, fmt: Qt.TextFormat) -> bool:
    """Whether ``label`` paints the same pixels as it would with its text in ``fmt``."""
    shown = label.grab().toImage()
    before = label.textFormat()
    label.setTextFormat(fmt)
    other = label.grab().toImage()
    label.setTextFormat(before)
    return shown == other


def test_user_typed_text_is_shown_literally(qtbot, make_window, inspected, settings):
    with open_store(settings.database_path) as store:
        part = store.query(limit=1)[0]
        store.add_override(part.id, IMG, Verdict.FAIL, defect_label=FAKE_PASS, note=FAKE_PASS)
    window = make_window(operator=IMG)
    assert window.operator_label.textFormat() == Qt.TextFormat.PlainText
    assert IMG in window.operator_label.text()
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.model.rowCount() > 0, timeout=WAIT_MS)
    review.show_part(part.id)
    qtbot.waitUntil(lambda: review.detail.fields["Defect label"].text() == FAKE_PASS, timeout=WAIT_MS)
    label = review.detail.fields["Defect label"]
    line = review.detail.model_line
    assert IMG in line.text()
    for shown in (label, line, window.operator_label):
        assert shown.textFormat() == Qt.TextFormat.PlainText
        # the markup is painted as characters: as rich text it would be a big green PASS, or an image
        assert not _rendered_like(shown, Qt.TextFormat.RichText)
    assert any(FAKE_PASS in text and IMG in text for text in review.detail.history_texts())
