"""User-typed text (operator names, notes, defect labels, captions, file names) is shown as plain text.

A QLabel guesses rich text from the first tag it sees (``Qt.AutoText``): a name such as
``<img src=/etc/logo.png>`` would load a local image, and ``<b style="font-size:40pt;
color:green">PASS</b>`` would paint a large green PASS over a failed part. Every label of the
window is switched to plain text once it is built; tooltips, which Qt also guesses, get their text
escaped inside an explicit rich-text paragraph.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

#: Set this property to True on the few labels whose own (never user-typed) text is rich.
RICH_PROPERTY = "trustedRichText"


def plain_labels(root: QWidget) -> int:
    """Make every label under ``root`` (and ``root`` itself) plain text; returns how many."""
    labels = root.findChildren(QLabel)
    if isinstance(root, QLabel):
        labels.append(root)
    n = 0
    for label in labels:
        if not label.property(RICH_PROPERTY):
            label.setTextFormat(Qt.TextFormat.PlainText)
            n += 1
    return n


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"
