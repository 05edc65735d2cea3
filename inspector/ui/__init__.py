"""The station window (PySide6 + pyqtgraph). The only package that imports Qt; nothing imports it.

Start it with :func:`inspector.ui.app.main` (``python -m inspector.ui``). Importing this package
has no side effects: no QApplication, no database, no model is created at import time.
"""
