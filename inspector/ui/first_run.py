"""The first-run experience: which model weights are missing, and exactly how to get them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from inspector.core.recipe import DEFAULT_MODELS


@dataclass(frozen=True)
class WeightsReport:
    """What the station found: the models it needs and the message for each one that is missing."""

    needed: tuple[str, ...]
    missing: dict[str, str]  # model id -> how to get its weights (the WeightsMissingError text)
    has_recipes: bool

    @property
    def ok(self) -> bool:
        return not self.missing


def needed_models(recipes_dir: Path) -> tuple[tuple[str, ...], bool]:
    """The models the saved recipes use, or the detectors' defaults when there is no recipe yet."""
    models: list[str] = []
    files = sorted(recipes_dir.glob("*.json")) if recipes_dir.is_dir() else []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = data.get("model") or DEFAULT_MODELS.get(data.get("detector", ""), "")
        except (OSError, ValueError, AttributeError):
            continue
        if model and model not in models:
            models.append(model)
    if not models:
        models = list(dict.fromkeys(DEFAULT_MODELS.values()))
    return tuple(models), bool(files)


def check_weights(recipes_dir: Path, extra: tuple[str, ...] = ()) -> WeightsReport:
    """Look for the weights of every needed model (off the GUI thread: it may touch the hub cache).

    ``extra``: more models the station uses (the captioner, when captions are on).
    """
    from inspector.core.registry import load_registry

    needed, has_recipes = needed_models(recipes_dir)
    needed = tuple(dict.fromkeys((*needed, *extra)))
    registry = load_registry()
    missing: dict[str, str] = {}
    for model_id in needed:
        spec = registry.get(model_id)
        if spec is None:
            missing[model_id] = (
                f"The model '{model_id}' is not in the model registry ({', '.join(sorted(registry))} "
                "are). Choose another model in the recipe."
            )
        elif spec.config is None and not spec.has_weights():
            missing[model_id] = str(spec.missing_weights_error())
    return WeightsReport(needed, missing, has_recipes)


class FirstRunPanel(QFrame):
    """Shown at the top of the live screen while weights are missing (never a traceback)."""

    check_again = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.title = QLabel("Welcome to Inspector — model weights are needed")
        self.title.setObjectName("firstRunTitle")
        self.intro = QLabel("")
        self.intro.setWordWrap(True)
        self.help = QPlainTextEdit()
        self.help.setObjectName("weightsHelp")
        self.help.setReadOnly(True)
        self.help.setMinimumHeight(150)
        self.help.setMaximumHeight(230)
        self.next_step = QLabel("")
        self.next_step.setObjectName("muted")
        self.next_step.setWordWrap(True)
        again = QPushButton("Check again")
        again.clicked.connect(self.check_again)
        hide = QPushButton("Hide")
        hide.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        buttons.addWidget(self.next_step, 1)
        buttons.addWidget(again)
        buttons.addWidget(hide)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.intro)
        layout.addWidget(self.help)
        layout.addLayout(buttons)
        self.setVisible(False)

    def show_report(self, report: WeightsReport) -> None:
        if report.ok:
            self.setVisible(False)
            return
        names = ", ".join(report.missing)
        self.intro.setText(
            f"This station cannot inspect yet: the weights of {names} are not here. Nothing is "
            "downloaded behind your back, and the station never guesses with untrained models. "
            "Get the weights one of the two ways below, then press “Check again”."
        )
        self.help.setPlainText("\n\n".join(report.missing.values()))
        self.next_step.setText(
            ""
            if report.has_recipes
            else "Next: set up a recipe in the Recipes tab (object name and a few good images)."
        )
        self.setVisible(True)

    def show_message(self, message: str) -> None:
        """A WeightsMissingError raised when a run started (its message says how to get the weights)."""
        self.intro.setText("The run could not start: the model's weights are not on this station.")
        self.help.setPlainText(message)
        self.setVisible(True)

    def text(self) -> str:
        return "\n".join((self.title.text(), self.intro.text(), self.help.toPlainText(), self.next_step.text()))
