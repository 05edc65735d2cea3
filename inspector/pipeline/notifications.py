"""Typed change notifications a station session publishes, and the one subscribe API for them.

Subscribers are plain callables: the window (through its one Qt bridge, ``inspector.ui.bridge``),
the command line, and plant connectors (MQTT publisher, database forwarder) alike. A subscriber is
called on the thread that made the change (mostly the database-writer thread, right after the
commit), so it must be quick and thread-safe: hand the notification to a queue or a signal, never
block. A subscriber that raises is logged and the others are still called.

Example::

    subscription = session.subscribe(on_stored, PartStored)
    ...
    subscription.cancel()
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from inspector.captioning.scheduler import CaptionOutcome
from inspector.core.types import DetectorInfo
from inspector.pipeline.events import PartResult, RunSummary
from inspector.sources import SourceEvent

log = logging.getLogger(__name__)


class Notification:
    """Base of every notification (for ``isinstance`` and subscriptions to all of them)."""

    __slots__ = ()


@dataclass(frozen=True)
class PartStored(Notification):
    """A part's verdict was committed (``result.status`` is ``STORED``)."""

    result: PartResult


@dataclass(frozen=True)
class PartNotStored(Notification):
    """A part was not stored: already inspected, unreadable (skipped), or the store failed."""

    result: PartResult


@dataclass(frozen=True)
class CaptionStored(Notification):
    """A flagged part's caption outcome (a caption, or why there is none) was committed."""

    inspection_id: str
    outcome: CaptionOutcome


@dataclass(frozen=True)
class OverrideWritten(Notification):
    """Operator decisions (relabel, label, note, undo) on these parts were committed."""

    inspection_ids: tuple[str, ...]


@dataclass(frozen=True)
class RecipeSaved(Notification):
    """A recipe version was written to the store."""

    name: str


@dataclass(frozen=True)
class StoreChanged(Notification):
    """Another committed change the views refresh on, named by kind (e.g. ``golden``: golden parts)."""

    kind: str
    inspection_ids: tuple[str, ...] = ()


class RunState(enum.StrEnum):
    STARTING = "starting"  # the source is opening
    LOADING = "loading"  # the model loads and learns its references
    RUNNING = "running"
    FINISHED = "finished"  # ``summary`` says how (cancelled, stopped by an error, ...)
    FAILED = "failed"  # it never ran: ``message`` says why


@dataclass(frozen=True)
class RunStateChanged(Notification):
    state: RunState
    recipe: str
    source: str
    message: str = ""
    summary: RunSummary | None = None


@dataclass(frozen=True)
class SourceStateChanged(Notification):
    """The running source changed state (lost, reconnecting, finished, ...)."""

    event: SourceEvent


@dataclass(frozen=True)
class DetectorReady(Notification):
    """The run's detector is loaded (and fitted): which model, where, in which precision.

    ``notice``: what the user is told about the precision (the INT8 check's outcome with
    ``--dtype int8``); ``warning``: it did not go as asked (INT8 refused, or nothing to check it on).
    """

    info: DetectorInfo
    notice: str = ""
    warning: bool = False


Subscriber = Callable[[Notification], None]


class Subscription:
    """Returned by :meth:`Notifier.subscribe`; :meth:`cancel` ends it (idempotent)."""

    def __init__(self, notifier: Notifier, key: int) -> None:
        self._notifier = notifier
        self._key = key

    def cancel(self) -> None:
        self._notifier._remove(self._key)


class Notifier:
    """Fans notifications out to subscribers, synchronously, on the publishing thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[Subscriber, tuple[type[Notification], ...]]] = {}
        self._next = 0

    def subscribe(self, callback: Subscriber, *kinds: type[Notification]) -> Subscription:
        """Call ``callback(notification)`` for every notification of these kinds (none given: all)."""
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (callback, kinds or (Notification,))
            return Subscription(self, self._next)

    def publish(self, note: Notification) -> None:
        with self._lock:
            targets = [cb for cb, kinds in self._subscribers.values() if isinstance(note, kinds)]
        for callback in targets:
            try:
                callback(note)
            except Exception:  # noqa: BLE001 - one subscriber's bug must not starve the others
                log.exception("subscriber %r failed on %s", callback, type(note).__name__)

    def _remove(self, key: int) -> None:
        with self._lock:
            self._subscribers.pop(key, None)
