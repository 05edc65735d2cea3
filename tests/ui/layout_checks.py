"""Geometry checks shared by the layout tests (offscreen) and the real-screen test (xcb)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractScrollArea, QWidget


def _clipped_by_a_scroll_area(widget: QWidget, top: QWidget) -> bool:
    """True for widgets inside a scroll area's viewport: they may extend past it by design (they scroll)."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        grand = parent.parentWidget()
        if isinstance(grand, QAbstractScrollArea) and parent is grand.viewport():
            return True
        parent = grand
    return False


def widgets_outside(top: QWidget, area: QRect | None = None) -> list[str]:
    """The visible widgets of ``top`` that extend past ``area`` (default: ``top``'s own rectangle), as
    ``"ClassName 'objectName' (x, y, w, h)"``; widgets that scroll inside a scroll area are not counted."""
    area = area if area is not None else QRect(QPoint(0, 0), top.size())
    found = []
    for widget in top.findChildren(QWidget):
        if not widget.isVisibleTo(top) or widget.isWindow() or _clipped_by_a_scroll_area(widget, top):
            continue
        rect = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
        if not area.contains(rect):
            found.append(f"{type(widget).__name__} '{widget.objectName()}' {rect.getRect()}")
    return found
