"""Light and dark themes: one stylesheet (``inspector/resources/style/base.qss``) with colour tokens per theme.

Verdict colours are fixed across themes (green PASS, red FAIL, amber UNCERTAIN, purple WRONG PART), so an operator
reads the same colour on every station.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from inspector.core.paths import package_data

THEMES = ("light", "dark")
# ``wrong_part``: the part-identity check saw another part (purple: apart from every verdict colour)
VERDICT_COLOURS = {"pass": "#1e8e3e", "fail": "#d93025", "uncertain": "#e8a000", "wrong_part": "#7b1fa2"}
VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "uncertain": "UNCERTAIN", "wrong_part": "WRONG PART"}
NEUTRAL_COLOUR = "#6b7785"
_TOKEN = re.compile(r"^\s*(@\w+)\s*=\s*(#[0-9a-fA-F]{6})\s*$")


def resources_dir() -> Path:
    """The package's ``resources/`` folder (stylesheets, icons): package data, wheel or checkout alike."""
    return package_data("resources")


@cache
def tokens(theme: str) -> dict[str, str]:
    """The colour tokens of a theme (``@window`` -> ``#eef0f3``)."""
    name = theme if theme in THEMES else "light"
    found: dict[str, str] = {}
    for line in (resources_dir() / "style" / f"{name}.qss").read_text(encoding="utf-8").splitlines():
        match = _TOKEN.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def stylesheet(theme: str) -> str:
    """``base.qss`` with the theme's colours filled in."""
    text = (resources_dir() / "style" / "base.qss").read_text(encoding="utf-8")
    text = text.replace("@icons", (resources_dir() / "icons").as_posix())
    for key in sorted(tokens(theme), key=len, reverse=True):
        text = text.replace(key, tokens(theme)[key])
    return text


def colour(theme: str, token: str) -> str:
    return tokens(theme).get(f"@{token}", "#808080")


def configure_pyqtgraph(theme: str = "light") -> None:
    """Global pyqtgraph options: row-major images (numpy order), antialiased lines, theme colours."""
    pg.setConfigOptions(
        imageAxisOrder="row-major",
        antialias=True,
        background=colour(theme, "plotBg"),
        foreground=colour(theme, "plotFg"),
    )


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply a theme to the whole application (stylesheet, palette, plot colours)."""
    theme = theme if theme in THEMES else "light"
    configure_pyqtgraph(theme)
    app.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(colour(theme, "window")))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(colour(theme, "text")))
    palette.setColor(QPalette.ColorRole.Base, QColor(colour(theme, "input")))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor(colour(theme, "alt")))
    palette.setColor(QPalette.ColorRole.Text, QColor(colour(theme, "text")))
    palette.setColor(QPalette.ColorRole.Button, QColor(colour(theme, "button")))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(colour(theme, "text")))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(colour(theme, "accent")))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(colour(theme, "muted")))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(colour(theme, "panel")))
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor(colour(theme, "text")))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(11)
    app.setFont(font)
    app.setStyleSheet(stylesheet(theme))
    app.setProperty("inspectorTheme", theme)
    for widget in app.allWidgets():  # plots drawn before the change (pyqtgraph keeps its own colours)
        if isinstance(widget, ThemedPlot):
            widget.apply_theme(theme)


class ThemedPlot(pg.PlotWidget):
    """A pyqtgraph plot that follows the window's theme, also when the theme changes after it was made."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.apply_theme(current_theme())

    def apply_theme(self, theme: str) -> None:
        self.theme = theme
        self.setBackground(colour(theme, "plotBg"))
        fg = colour(theme, "plotFg")
        for name in ("left", "bottom", "right", "top"):
            axis = self.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
            axis.setTickPen(pg.mkPen(fg))
            if axis.label is not None:
                axis.label.setDefaultTextColor(QColor(fg))


def current_theme() -> str:
    app = QApplication.instance()
    value = app.property("inspectorTheme") if app is not None else None
    return value if value in THEMES else "light"


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "inspector.svg"))


def verdict_colour(verdict: str | None) -> str:
    return VERDICT_COLOURS.get(str(verdict or ""), NEUTRAL_COLOUR)
