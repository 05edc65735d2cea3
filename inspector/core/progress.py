"""Progress and cancel for long jobs, without Qt (the window and the CLI each adapt it)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancelled(Exception):
    """A job stopped because its user asked it to."""


class ProgressState:
    """Passed into long jobs: they report progress and check for cancel.

    Args:
        on_progress: Called as ``on_progress(done, total, message)`` from the job's thread.
    """

    def __init__(self, on_progress: Callable[[int, int, str], None] | None = None) -> None:
        self._on_progress = on_progress
        self._cancel = threading.Event()

    def report(self, done: int, total: int, message: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress(done, total, message)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancel was asked for."""
        if self._cancel.is_set():
            raise Cancelled()
