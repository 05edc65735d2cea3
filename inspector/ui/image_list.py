"""A list of image files shown as thumbnails, filled by the file dialog or by drag-and-drop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from inspector.core.images import is_image_file
from inspector.sources import scan_images
from inspector.ui.plain_text import plain_tooltip


def thumbnail(path: str, size: int = 96) -> QImage | None:
    """A small preview of an image file (on a reader thread: QImage, unlike QPixmap, may be made there)."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            picture.draft("RGB", (size * 2, size * 2))
            picture = picture.convert("RGB")
            picture.thumbnail((size, size))
    except OSError:
        return None
    data = picture.tobytes()
    return QImage(data, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888).copy()


class ImageList(QListWidget):
    """Image paths as thumbnails; accepts files and folders dropped from the file manager."""

    changed = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        thumbnails: Callable[[str, Callable[[QImage | None], None]], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(96, 72))
        self.setGridSize(QSize(112, 100))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setAcceptDrops(True)
        # the drops land on the viewport, which QListView's static movement had set to refuse them
        self.viewport().setAcceptDrops(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMinimumHeight(110)
        self.setToolTip("Drop image files or folders here")

    def paths(self) -> tuple[str, ...]:
        return tuple(self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count()))

    def set_paths(self, paths: tuple[str, ...] | list[str]) -> None:
        self.clear()
        self.add_paths(paths, notify=False)

    def add_paths(self, paths, *, notify: bool = True) -> int:
        """Add image files, and the images inside folders; returns how many were added."""
        present = set(self.paths())
        added = 0
        for raw in paths:
            path = Path(raw)
            found = scan_images(path) if path.is_dir() else [path] if is_image_file(path) else []
            for image in found:
                text = str(image.resolve()) if image.exists() else str(image)
                if text in present:
                    continue
                present.add(text)
                self.addItem(image.name)
                item = self.item(self.count() - 1)
                item.setData(Qt.ItemDataRole.UserRole, text)
                item.setToolTip(plain_tooltip(text))
                if self._thumbnails is not None:
                    self._thumbnails(text, lambda picture, item=item: self._set_icon(item, picture))
                added += 1
        if added and notify:
            self.changed.emit()
        return added

    def _set_icon(self, item: QListWidgetItem, picture: QImage | None) -> None:
        if picture is not None and self.row(item) >= 0:
            item.setIcon(QIcon(QPixmap.fromImage(picture)))

    def remove_selected(self) -> None:
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.changed.emit()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.add_paths(urls)
            event.acceptProposedAction()
        else:
            super().dropEvent(event)
