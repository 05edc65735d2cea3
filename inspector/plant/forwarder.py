"""The background forwarder: the station's spool, in order, into the central PostgreSQL database.

One thread. It takes the next batch of changes from the spool (``inspector.plant.spool``), uploads
the artifact files they name to the plant's artifact store (a shared folder or an S3 bucket,
``inspector.plant.artifacts``), upserts the rows' current values into
the central database in one transaction, and only then moves its spool position. A server that is
down, slow or restarted in the middle of a batch loses nothing (the batch is sent again) and
duplicates nothing (the upserts are keyed by the rows' UUIDs, see ``inspector.plant.central``).

:meth:`Forwarder.state` says where it stands: up to date, N waiting, or server unreachable since a
time, with the reason. No Qt here: the window polls :meth:`state` or passes ``on_state``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc

from inspector.plant import central
from inspector.plant.artifacts import ArtifactTarget, SharedFolder
from inspector.plant.spool import Spool
from inspector.store.artifacts import ArtifactStore
from inspector.store.domain import utc_now
from inspector.store.engine import Database, open_database
from inspector.store.errors import DiskFullError, StoreError

log = logging.getLogger(__name__)

CONSUMER = "central"
CLOCK_TOLERANCE_S = 5.0


@dataclass(frozen=True)
class ForwarderState:
    """What the forwarder shows: the station's view of the central database."""

    waiting: int = 0  # changes committed locally and not yet on the server
    connected: bool = False
    unreachable_since: datetime | None = None
    error: str | None = None  # why it is not forwarding (None while all is well)
    forwarded: int = 0  # changes forwarded since this forwarder started
    last_forwarded_at: datetime | None = None
    clock_offset_s: float | None = None  # server clock minus the station's
    stopped: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.connected and self.waiting == 0 and self.error is None

    def describe(self) -> str:
        """One line for the status bar and ``inspector run``."""
        if self.error is not None:
            since = f" since {self.unreachable_since:%H:%M:%S} UTC" if self.unreachable_since else ""
            head = f"central database not reached{since}: {self.error}"
            return f"{head} ({self.waiting} waiting in the spool)" if self.waiting else head
        text = "central database: up to date" if self.waiting == 0 else f"central database: {self.waiting} waiting"
        if self.clock_offset_s is not None and abs(self.clock_offset_s) > CLOCK_TOLERANCE_S:
            way = "behind" if self.clock_offset_s > 0 else "ahead of"
            text += (
                f"; this station's clock is {abs(self.clock_offset_s):.0f} s {way} the server's (times are "
                "stored as the station measured them: set the station's clock, e.g. NTP)"
            )
        return text


class Forwarder:
    """Forwards one station's spool to the central database on a background thread."""

    def __init__(
        self,
        local: Database,
        central_url: str,
        *,
        station: str,
        shared_artifacts: str | Path | None = None,
        artifact_target: ArtifactTarget | None = None,
        local_artifacts: ArtifactStore | None = None,
        batch_size: int = 500,
        poll_s: float = 0.5,
        retry_s: tuple[float, float] = (0.5, 15.0),
        connect_timeout_s: float = 5.0,
        on_state: Callable[[ForwarderState], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.spool = Spool(local)
        self.spool.register(CONSUMER)
        self.install_id = self.spool.install_id
        self.central_url = central_url
        self.station = station
        self.local_artifacts = local_artifacts or ArtifactStore(local.artifacts_dir)
        if artifact_target is None and shared_artifacts:
            artifact_target = SharedFolder(shared_artifacts)
        self.artifact_target = artifact_target
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.connect_timeout_s = connect_timeout_s
        self.on_state = on_state
        self.clock = clock
        self._central: Database | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = ForwarderState(waiting=self.spool.waiting(CONSUMER))
        self._thread: threading.Thread | None = None
        self._uploaded: set[str] = set()  # keys known to be on the plant store (content-addressed: for good)

    # -- control -------------------------------------------------------------------------------

    def start(self) -> Forwarder:
        self._thread = threading.Thread(target=self._run, name="inspector-forwarder", daemon=True)
        self._thread.start()
        return self

    def notify(self, *_args: object) -> None:
        """Something was stored: look at the spool now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = 30.0) -> ForwarderState:
        """Stop after the batch in flight (what is not forwarded stays in the spool for next time)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._central is not None:
            self._central.close()
            self._central = None
        self._set(stopped=True, connected=False)
        return self.state()

    def state(self) -> ForwarderState:
        with self._lock:
            return self._state

    def pending(self) -> int:
        """Records the spool holds for the central server now (read from the spool, never a cached count)."""
        return self.spool.waiting(CONSUMER)

    def drain(self, timeout: float) -> bool:
        """Forward on the calling thread until the spool is empty (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._step():
                continue
            if self.state().up_to_date:
                return True
            self._stop.wait(self.retry_s[0])
        return self.state().up_to_date

    def check(self) -> ForwarderState:
        """Connect (registering the station id) and count what waits, without forwarding anything."""
        try:
            self._connect()
            self._set(waiting=self.spool.waiting(CONSUMER), error=None, unreachable_since=None, connected=True)
        except (StoreError, sa_exc.SQLAlchemyError, OSError) as error:
            self._fail(str(error) if isinstance(error, StoreError) else _plain(error), reconnect=True)
        return self.state()

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_s[0]
        while not self._stop.is_set():
            progressed = self._step()
            if progressed:
                delay = self.retry_s[0]
                continue
            if self.state().error is not None:
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_s[1])
            else:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def _step(self) -> bool:
        """Forward one batch; True when something was forwarded."""
        try:
            central_db = self._connect()
            changes = self.spool.pending(CONSUMER, limit=self.batch_size)
            if not changes:
                self._set(waiting=0, error=None, unreachable_since=None, connected=True)
                return False
            by_table: dict[str, list[str]] = {}
            for change in changes:
                if change.table in self.spool.tables:
                    by_table.setdefault(change.table, []).append(change.row_id)
            batches = [(t, self.spool.rows(t, by_table[t])) for t in self.spool.tables if t in by_table]
            self._copy_artifacts(batches)
            with central_db.write() as conn:
                central.touch_station(conn, self.station, self.install_id, central_db.where)
                for name, rows in batches:
                    central.upsert(conn, self.spool.tables[name], rows)
            self.spool.advance(CONSUMER, changes[-1].seq)
        except central.StationIdConflictError as error:
            self._fail(str(error), reconnect=True)
            return False
        except DiskFullError:
            where = self._central.where if self._central is not None else self.central_url
            self._fail(
                f"the central database server's disk is full ({where}). Nothing is lost: the records wait in "
                "this station's spool until the administrator frees space on the server",
                reconnect=True,
            )
            return False
        except (StoreError, sa_exc.SQLAlchemyError, OSError) as error:
            message = str(error) if isinstance(error, StoreError) else _plain(error)
            self._fail(message, reconnect=True)
            return False
        state = self.state()
        self._set(
            waiting=self.spool.waiting(CONSUMER),
            error=None,
            unreachable_since=None,
            connected=True,
            forwarded=state.forwarded + len(changes),
            last_forwarded_at=utc_now(),
        )
        return True

    def _connect(self) -> Database:
        if self._central is not None:
            return self._central
        db = open_database(self.central_url, busy_timeout_s=self.connect_timeout_s)
        try:
            if db.is_sqlite:
                raise StoreError(
                    f"The central database must be a PostgreSQL server URL (postgresql://...), not {db.where}."
                )
            with db.write() as conn:
                reg = central.register_station(
                    conn, self.station, self.install_id, station_now=self.clock(), where=db.where
                )
        except BaseException:
            db.close()
            raise
        self._central = db
        self._set(clock_offset_s=reg.clock_offset_s, connected=True)
        if abs(reg.clock_offset_s) > CLOCK_TOLERANCE_S:
            log.warning("%s", self.state().describe())
        return db

    def _copy_artifacts(self, batches: list[tuple[str, list[dict[str, object]]]]) -> None:
        """Upload every artifact the rows name before the rows (content-addressed: idempotent)."""
        target = self.artifact_target
        if target is None:
            return
        for _name, rows in batches:
            for row in rows:
                for column, key in row.items():
                    if not column.endswith("_artifact") or not isinstance(key, str) or not key:
                        continue
                    if key in self._uploaded or target.has(key):
                        self._uploaded.add(key)
                        continue
                    source = self.local_artifacts.path(key)
                    if not source.is_file():
                        log.warning("artifact %s named by %s is missing on this station; not uploaded", key, column)
                        continue
                    target.upload(source, key)
                    self._uploaded.add(key)
        if len(self._uploaded) > 100_000:  # a memory bound on a station that runs for months
            self._uploaded.clear()

    def _fail(self, message: str, *, reconnect: bool) -> None:
        if reconnect and self._central is not None:
            self._central.close()
            self._central = None
        state = self.state()
        try:
            waiting = self.spool.waiting(CONSUMER)
        except StoreError:
            waiting = state.waiting
        if state.error != message:
            log.warning("forwarding paused: %s", message)
        self._set(
            error=message,
            connected=False,
            waiting=waiting,
            unreachable_since=state.unreachable_since or utc_now(),
        )

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)
            state = self._state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("the forwarder's on_state handler failed")


def _plain(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    return " ".join(str(orig).split()) or type(error).__name__
