"""A stand-in file manager for the real drag-and-drop test: a small window in its own process that
starts a drag of the files named on its command line when the (real, X11) pointer presses on it.

    python tests/ui/drag_source.py X Y FILE...

It prints ``ready X Y W H`` (its global geometry) once mapped, ``dragging`` when the drag starts and
``dropped ACTION`` when the drag ends; it stays up (the target fetches the dragged data from it after the
drop) until it is killed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QMimeData, Qt, QTimer, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QLabel


class Source(QLabel):
    def __init__(self, files: list[str]) -> None:
        super().__init__(f"{len(files)} files: press and drag")
        self.files = files
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #ffe08a; font-size: 14pt;")

    def mousePressEvent(self, event) -> None:  # noqa: N802
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(f) for f in self.files])
        drag = QDrag(self)
        drag.setMimeData(mime)
        print("dragging", flush=True)
        action = drag.exec(Qt.DropAction.CopyAction)
        print(f"dropped {action.name}", flush=True)  # stays up: the target reads the files from it now

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        QTimer.singleShot(0, self._report)

    def _report(self) -> None:
        g = self.geometry()
        print(f"ready {g.x()} {g.y()} {g.width()} {g.height()}", flush=True)


def main() -> int:
    x, y, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    app = QApplication(sys.argv[:1])
    source = Source(files)
    source.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint)
    source.setGeometry(x, y, 220, 120)
    source.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
