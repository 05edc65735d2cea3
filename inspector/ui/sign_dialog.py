"""The electronic-signature dialog: an engineer signs a recipe, threshold, model or golden-part change.

The rule is :mod:`inspector.store.changes` (the same for the command line); this dialog only asks who
signs, the PIN again and why, and runs the change off the GUI thread. A wrong PIN counts toward the
lock-out and a role that may not make the change is refused; both messages stay in the dialog, and
nothing is changed until the signature is accepted. On a station without PINs no dialog is shown:
the change is stored unsigned (and flagged as such in reports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QFormLayout, QLabel, QLineEdit, QWidget

from inspector.store.changes import Signer
from inspector.ui.pin_form import Submit, dialog_column, error_label, name_box, ok_cancel, pin_edit, run_check
from inspector.ui.plain_text import plain_labels
from inspector.ui.workers import describe_error


class SignDialog(QDialog):
    """Asks for the signer's name, PIN and reason, then runs ``apply(signer)``; accepted only when it succeeds."""

    def __init__(
        self,
        what: str,
        changes: str,
        apply: Callable[[Signer], Any],
        *,
        submit: Submit | None = None,
        operator: str = "",
        operators: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Inspector — sign the change")
        self.setMinimumWidth(460)
        self._apply = apply
        self._submit = submit
        self.result_value: Any = None
        title = QLabel(what)
        title.setObjectName("firstRunTitle")
        title.setWordWrap(True)
        self.changes = QLabel(changes)
        self.changes.setWordWrap(True)
        hint = QLabel(
            "This change needs an engineer's electronic signature: your name, your PIN again, and why. "
            "Who, when, what and why go into the audit trail with the new version."
        )
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        self.name = name_box(operators or [], operator)
        self.pin = pin_edit()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why, e.g. recalibrated for lot 17")
        self.meaning = QComboBox()
        for meaning in ("approved", "authored", "reviewed", "responsible"):
            self.meaning.addItem(meaning, meaning)
        self.error = error_label()
        self.error.setObjectName("signError")
        form = QFormLayout()
        form.addRow("Change", self.changes)
        form.addRow("Signed by", self.name)
        form.addRow("PIN", self.pin)
        form.addRow("Reason", self.reason)
        form.addRow("Meaning", self.meaning)
        self.buttons = ok_cancel(self, "Sign", self.sign)
        dialog_column(self, title, hint, form, self.error, self.buttons)
        plain_labels(self)  # names and change texts are user-typed
        (self.pin if operator else self.name).setFocus(Qt.FocusReason.OtherFocusReason)

    def sign(self) -> None:
        name = " ".join(self.name.currentText().split())
        if not name or not self.pin.text().strip():
            self.error.setText("Enter your name and your PIN to sign.")
            return
        signer = Signer(name, self.pin.text().strip(), reason=self.reason.text().strip(),
                        meaning=str(self.meaning.currentData()))  # fmt: skip
        self.buttons.setEnabled(False)
        self.error.setText("Checking the signature…")
        run_check(lambda: self._apply(signer), self._submit, self._signed, self._refused)

    def _signed(self, value: Any) -> None:
        self.result_value = value
        self.accept()

    def _refused(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.pin.clear()
        self.error.setText(describe_error(exc))


def signed_change(
    parent: QWidget,
    *,
    what: str,
    store: Any,
    tasks: Any,
    ops: Any,
    operator: str,
    prepare: Callable[[Any], tuple[str, bool, list[str]]],
    apply: Callable[[Any, Signer | None], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
    change: Any = None,
) -> None:
    """Make a change that may need a signature, the window's one way to do it.

    ``prepare(store)`` (off the GUI thread) says what changes, whether a signature is required
    (the station requires PINs) and the operators' names; ``apply(store, signer)`` makes it (on the
    database-writer thread) through :mod:`inspector.store.changes`. Without PINs it runs unsigned;
    with them the :class:`SignDialog` asks first, and ``on_done`` gets ``apply``'s result.
    """

    def prepared(found: tuple[str, bool, list[str]]) -> None:
        changes, required, operators = found
        if not required:
            ops.run(lambda s: apply(s, None), change=change, on_done=on_done, on_error=on_error)
            return

        def submit(job, ok, err) -> None:
            ops.run(lambda _s: job(), change=change, on_done=ok, on_error=err)

        dialog = SignDialog(
            what, changes, lambda signer: apply(store, signer), submit=submit, operator=operator,
            operators=operators, parent=parent,
        )  # fmt: skip
        dialog.accepted.connect(lambda: on_done(dialog.result_value))
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        parent.sign_dialog = dialog  # for tests and screenshots
        dialog.show()

    tasks.submit(lambda: prepare(store), prepared, on_error)


def recipe_change_prepare(name: str, body: dict[str, Any]) -> Callable[[Any], tuple[str, bool, list[str]]]:
    """``prepare`` for :func:`signed_change` of a recipe version: what changes against the latest one."""
    from inspector.store.changes import describe_change, signatures_required

    def prepare(store: Any) -> tuple[str, bool, list[str]]:
        versions = store.recipe_versions(name)
        changes, _actions = describe_change(versions[-1].body if versions else None, body)
        return changes, signatures_required(store), [a.name for a in store.accounts.list()]

    return prepare


def recipe_change_apply(name: str, body: dict[str, Any]) -> Callable[[Any, Signer | None], Any]:
    """``apply`` for :func:`signed_change`: :func:`inspector.store.changes.record_recipe_change`."""
    from inspector.store.changes import record_recipe_change

    return lambda store, signer: record_recipe_change(store, name, body, signer)


def save_signed_recipe(
    widget: QWidget,
    station: Any,
    recipe: Any,
    path: Any,
    *,
    signed: bool,
    written: Callable[[Any], None],
    saved: Callable[[Any], None],
) -> None:
    """The Recipes screen's save, after its checks. ``signed`` (a PIN station): the sign dialog first,
    then the file (``written(path)`` after it); otherwise the file was written (``written(path)`` now) and
    the version is stored unsigned. ``saved(change)`` gets the :class:`~inspector.store.changes.ChangeRecord`."""
    from inspector.core.recipe import save_recipe
    from inspector.ui.workers import OpChange

    ops = station.ops
    if not signed:
        written(path)
    if ops is None:
        return
    body = recipe.to_dict()
    apply = recipe_change_apply(recipe.name, body)
    show_error = lambda exc: widget.messages.show_message(describe_error(exc), "error")  # noqa: E731
    if not signed:
        ops.run(lambda s: apply(s, None), change=OpChange("recipe"), on_done=saved, on_error=show_error)
        return

    def done(change: Any) -> None:
        try:
            save_recipe(recipe, path)
        except OSError as exc:
            show_error(exc)
            return
        written(path)
        saved(change)

    signed_change(
        widget, what=f"Save recipe '{recipe.name}'", store=station.store, tasks=station.tasks, ops=ops,
        operator=station.operator, prepare=recipe_change_prepare(recipe.name, body), apply=apply, on_done=done,
        on_error=show_error, change=OpChange("recipe"),
    )  # fmt: skip
