"""The database thread: one thread owns every write, and batches inspections (group commit).

Any thread calls :meth:`StoreWriter.add` (an inspection) or :meth:`StoreWriter.call` (any other
write, e.g. an override from the review screen) and gets a :class:`concurrent.futures.Future` that
completes once the change is committed, so "stored" is only ever shown for stored verdicts.
Inspections queued while a commit runs go into the next transaction together: at low rates each is
committed at once, under load batches grow up to ``max_batch``, which is what keeps up with
thousands of parts per second.

No Qt here: the window bridges futures (or ``on_error``) to signals.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from inspector.store.domain import NewInspection
from inspector.store.errors import StoreError
from inspector.store.repository import InspectionStore

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredInspection:
    """The outcome of :meth:`StoreWriter.add`: the row's id (the existing one for a duplicate)."""

    id: str
    duplicate: bool


@dataclass
class _Add:
    item: NewInspection
    future: Future[StoredInspection]


@dataclass
class _Call:
    fn: Callable[[InspectionStore], Any]
    future: Future[Any]


_STOP = object()


class StoreWriter:
    """Serialises writes to ``store`` on a background thread. Call :meth:`close` before exiting."""

    def __init__(
        self,
        store: InspectionStore,
        *,
        max_batch: int = 1000,
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "inspector-db",
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.on_error = on_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def add(self, item: NewInspection) -> Future[StoredInspection]:
        """Queue an inspection; the future completes when it is committed (or fails)."""
        future: Future[StoredInspection] = Future()
        self._put(_Add(item, future))
        return future

    def call(self, fn: Callable[[InspectionStore], T]) -> Future[T]:
        """Run ``fn(store)`` on the database thread, after everything queued before it."""
        future: Future[T] = Future()
        self._put(_Call(fn, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is committed (or has failed)."""
        self.call(lambda _store: None).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Commit everything already queued, then stop the thread. Safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _put(self, op: _Add | _Call) -> None:
        with self._lock:
            if self._closed:
                raise StoreError("The database writer has stopped; the result was not stored.")
            self._queue.put(op)

    def _run(self) -> None:
        pending: Any = None
        while True:
            op = pending if pending is not None else self._queue.get()
            pending = None
            if op is _STOP:
                return
            if isinstance(op, _Call):
                self._execute(op)
                continue
            batch = [op]
            while len(batch) < self.max_batch:  # take what queued up meanwhile, without waiting
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Add):
                    batch.append(nxt)
                else:
                    pending = nxt
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Add]) -> None:
        try:
            result = self.store.add_inspections([a.item for a in batch])
        except BaseException as error:  # reported through every future, never swallowed
            self._report(error)
            for a in batch:
                a.future.set_exception(error)
            return
        for a, id_, dup in zip(batch, result.ids, result.duplicate, strict=True):
            a.future.set_result(StoredInspection(id_, dup))

    def _execute(self, op: _Call) -> None:
        if not op.future.set_running_or_notify_cancel():
            return
        try:
            op.future.set_result(op.fn(self.store))
        except BaseException as error:
            self._report(error)
            op.future.set_exception(error)

    def _report(self, error: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(error)
        except Exception:  # a broken error handler must not stop the database thread
            log.exception("the store writer's on_error handler failed")
