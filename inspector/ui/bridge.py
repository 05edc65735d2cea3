"""The one bridge from the station session's notifications to the GUI thread.

The session publishes on worker threads (mostly the database writer's, right after a commit). The
bridge re-emits on the GUI thread, as the views' change vocabulary (:class:`OpChange`, after Anki's
``OpChanges``): ``changed`` for overrides, recipes, captions and the end of a run, ``run_state``
and ``source_state`` for the status line, and ``parts_stored`` for new parts. ``parts_stored`` is
coalesced: however fast parts are committed, at most one is queued on the GUI thread at a time and it
says how many arrived, so the review table can show new parts during a run without flooding the
event loop. The live screen's pixels do not come through here: its display thread subscribes to the
session itself and the screen paints at screen rate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from inspector.pipeline import (
    CaptionStored,
    DetectorReady,
    Notification,
    OverrideWritten,
    PartStored,
    RecipeSaved,
    RunState,
    RunStateChanged,
    SourceStateChanged,
    StationSession,
    StoreChanged,
)


@dataclass(frozen=True)
class OpChange:
    """What changed in the database, for the views to refresh."""

    kind: str  # "override", "recipe", "caption", "inspections"
    inspection_ids: tuple[str, ...] = ()
    detail: Any = None


def change_of(note: Notification) -> OpChange | None:
    """The view change a notification stands for (None: not one the views refresh on)."""
    if isinstance(note, OverrideWritten):
        return OpChange("override", note.inspection_ids)
    if isinstance(note, RecipeSaved):
        return OpChange("recipe", detail=note.name)
    if isinstance(note, CaptionStored):
        return OpChange("caption", (note.inspection_id,), note.outcome)
    if isinstance(note, StoreChanged):
        return OpChange(note.kind, note.inspection_ids)
    if isinstance(note, RunStateChanged) and note.state in (RunState.FINISHED, RunState.FAILED):
        return OpChange("inspections", detail=note.summary)
    return None


def notification_of(change: OpChange) -> Notification:
    """The notification a window change stands for (the inverse of :func:`change_of`)."""
    if change.kind == "override":
        return OverrideWritten(change.inspection_ids)
    if change.kind == "recipe":
        return RecipeSaved(str(change.detail or ""))
    return StoreChanged(change.kind, change.inspection_ids)


class SessionBridge(QObject):
    """Subscribes to one session; its signals arrive on the thread it lives on (the GUI thread)."""

    changed = Signal(object)  # OpChange
    parts_stored = Signal(int)  # how many parts were committed since the last emission
    run_state = Signal(object)  # RunStateChanged
    source_state = Signal(object)  # SourceStateChanged
    detector_ready = Signal(object)  # DetectorInfo
    _note = Signal(object)
    _parts = Signal()

    def __init__(self, session: StationSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._lock = threading.Lock()
        self._stored = 0
        self._queued = False
        self._note.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._parts.connect(self._deliver_parts, Qt.ConnectionType.QueuedConnection)
        self._subscription = session.subscribe(self._on_note)

    def close(self) -> None:
        """No more signals (idempotent)."""
        self._subscription.cancel()

    # -- worker threads ---------------------------------------------------------------------------
    def _on_note(self, note: Notification) -> None:
        if isinstance(note, PartStored):
            with self._lock:
                self._stored += 1
                if self._queued:
                    return
                self._queued = True
            self._parts.emit()
        elif isinstance(note, RunStateChanged | SourceStateChanged | DetectorReady) or change_of(note) is not None:
            self._note.emit(note)

    # -- GUI thread ----------------------------------------------------------------------------------
    @Slot(object)
    def _deliver(self, note: Notification) -> None:
        if isinstance(note, RunStateChanged):
            self.run_state.emit(note)
        elif isinstance(note, SourceStateChanged):
            self.source_state.emit(note)
        elif isinstance(note, DetectorReady):
            self.detector_ready.emit(note.info)
        change = change_of(note)
        if change is not None:
            self.changed.emit(change)

    @Slot()
    def _deliver_parts(self) -> None:
        with self._lock:
            n, self._stored, self._queued = self._stored, 0, False
        if n:
            self.parts_stored.emit(n)
