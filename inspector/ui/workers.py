"""Bridges between the Qt-free worker code and the GUI thread.

Three tools, after napari, Anki and Orange3:

- :class:`Tasks`: short reads (a page of the review table, a part's image and heatmap) run on a small
  thread pool; the result comes back as a callback on the GUI thread.
- :class:`StoreOps`: every database change the window makes (an override, a recipe version) is an
  operation run on the session's one database-writer thread, followed by one ``changed``
  notification that the views react to (Anki's ``OpChanges``, through the session bridge).
- :class:`Job`: a long plain function taking a :class:`~inspector.core.progress.ProgressState`
  (loading a model, calibrating, an inspection run) on its own thread, with throttled progress,
  cancel, and ``finished`` / ``failed`` signals.

Callbacks never run after :meth:`Tasks.shutdown`, so a closing window is never called back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from inspector.core.progress import Cancelled, ProgressState
from inspector.errors import InspectorError
from inspector.store import InspectionStore, StoreError, StoreWriter
from inspector.ui.bridge import OpChange, notification_of

if TYPE_CHECKING:
    from inspector.pipeline import Notification, StationSession
    from inspector.ui.bridge import SessionBridge

__all__ = ["GuiCaller", "Job", "LatestSlot", "Mailbox", "OpChange", "StoreOps", "Tasks", "describe_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe_error(error: BaseException) -> str:
    """A message for the operator: the station's own errors as written, anything else briefly (logged in full)."""
    if isinstance(error, InspectorError | StoreError):
        return str(error)
    if isinstance(error, Cancelled):
        return "Cancelled."
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    log.error("unexpected error", exc_info=(type(error), error, error.__traceback__))
    return f"Unexpected error ({type(error).__name__}): {error}. Details are in the station log."


def _hand_on(
    future: Future, on_done: Callable | None, on_error: Callable | None, report: Callable[[str], object]
) -> None:
    """A finished future's result to ``on_done``, or its exception to ``on_error`` (none: its message to
    ``report``, the owner's ``error`` signal)."""
    exc = future.exception()
    if exc is not None:
        if on_error is not None:
            on_error(exc)
        else:
            report(describe_error(exc))
        return
    if on_done is not None:
        on_done(future.result())


class GuiCaller(QObject):
    """Runs callables on the thread this object lives on (the GUI thread), posted from any thread."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)
        self.skipped: list[str] = []  # the last few callbacks skipped because a widget was gone

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` to run on the GUI thread (safe from any thread)."""
        self._call.emit(fn)

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except RuntimeError as exc:  # a widget deleted meanwhile ("Internal C++ object ... deleted")
            if "deleted" not in str(exc):
                raise
            log.debug("GUI callback skipped: %s", exc)
            self.skipped = [*self.skipped[-4:], f"{str(fn)[:200]}: {exc}"]


class Tasks(QObject):
    """Short background reads; results and errors are delivered on the GUI thread.

    Args:
        workers: Threads in the pool (reads may run in parallel; SQLite WAL readers never block).
    """

    error = Signal(str)  # an unhandled task error, as a message for the operator

    def __init__(self, workers: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inspector-read")
        self._gui = GuiCaller(self)
        self._closed = False

    def submit(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
    ) -> Future[T] | None:
        """Run ``fn()`` off the GUI thread; ``on_done(result)`` / ``on_error(exc)`` run on the GUI thread."""
        if self._closed:
            return None
        future = self._pool.submit(fn)
        future.add_done_callback(lambda f: self._gui.post(partial(self._deliver, f, on_done, on_error)))
        return future

    def post(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the GUI thread (from any thread)."""
        if not self._closed:
            self._gui.post(fn)

    def _deliver(self, future: Future, on_done: Callable | None, on_error: Callable | None) -> None:
        if not (self._closed or future.cancelled()):
            _hand_on(future, on_done, on_error, self.error.emit)

    def shutdown(self, wait: bool = True) -> None:
        """No more callbacks; wait for running reads to end."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)


class StoreOps(QObject):
    """Database changes made by the window, run on the session's one writer thread.

    Each operation names the notification it stands for (e.g. ``OverrideWritten``); the session
    publishes it once the change committed, and ``changed`` (the views' one change signal, fed by the
    :class:`~inspector.ui.bridge.SessionBridge`) follows on the GUI thread.
    """

    changed = Signal(object)  # OpChange
    error = Signal(str)

    def __init__(self, session: StationSession, tasks: Tasks, bridge: SessionBridge, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.store = session.store
        self._tasks = tasks
        bridge.changed.connect(self.changed)

    def run(
        self,
        fn: Callable[[InspectionStore], T],
        *,
        notify: Notification | Callable[[T], Notification] | None = None,
        on_done: Callable[[T], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        change: OpChange | None = None,
    ) -> Future[T] | None:
        """Queue ``fn(store)`` on the writer thread; once committed the session publishes ``notify`` (or
        ``notify(result)``; ``change``: the notification that view change stands for); ``on_done`` /
        ``on_error`` come on the GUI thread."""
        if notify is None and change is not None:
            notify = notification_of(change)
        try:
            future = self.session.write(fn, notify)
        except StoreError as exc:
            self.error.emit(describe_error(exc))
            return None
        future.add_done_callback(lambda f: self._tasks.post(partial(self._deliver, f, on_done, on_error)))
        return future

    def _deliver(self, future: Future, on_done: Callable | None, on_error: Callable | None) -> None:
        _hand_on(future, on_done, on_error, self.error.emit)

    @property
    def writer(self) -> StoreWriter:
        """The session's database-writer thread."""
        return self.session.writer


class Job(QObject):
    """A long plain function ``fn(progress) -> result`` on its own thread (Orange3's pattern).

    Signals arrive on the GUI thread: ``progress(done, total, message)`` at most every
    ``interval_s`` (and always for the last step), then exactly one of ``finished(result)``,
    ``failed(message)`` or ``cancelled()``.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str, object)  # message, the exception (e.g. to recognise missing weights)
    cancelled = Signal()

    def __init__(
        self,
        fn: Callable[[ProgressState], Any],
        *,
        name: str = "inspector-job",
        interval_s: float = 0.05,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self._name = name
        self._interval = interval_s
        self._last = 0.0
        self.state = ProgressState(self._on_progress)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> Job:
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the function returned (for shutdown and tests); True when it did."""
        return self._done.wait(timeout)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval or (total and done >= total):
            self._last = now
            self.progress.emit(int(done), int(total), str(message))

    def _main(self) -> None:
        try:
            result = self._fn(self.state)
        except Cancelled:
            self._done.set()
            self.cancelled.emit()
            return
        except BaseException as exc:  # reported to the window, never lost
            self._done.set()
            self.failed.emit(describe_error(exc), exc)
            return
        self._done.set()
        self.finished.emit(result)


class LatestSlot(Generic[T]):
    """Holds the newest value from a worker; the GUI timer takes it when it changed (coalescing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None
        self._seq = 0
        self._taken = 0

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value
            self._seq += 1

    def take(self) -> T | None:
        """The newest value if it is new since the last take, else None."""
        with self._lock:
            if self._seq == self._taken:
                return None
            self._taken = self._seq
            return self._value

    def peek(self) -> T | None:
        with self._lock:
            return self._value

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq


@dataclass
class Mailbox(Generic[T]):
    """A thread-safe list that workers append to and the GUI timer drains in one go."""

    _items: list[T] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def extend(self, items: Iterable[T]) -> None:
        with self._lock:
            self._items.extend(items)

    def drain(self) -> list[T]:
        with self._lock:
            items, self._items = self._items, []
        return items
