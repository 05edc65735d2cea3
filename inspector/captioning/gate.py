"""The gate between scoring and captions: caption work runs while no part is being scored.

The pipeline marks scoring with ``with gate.scoring(): detector.predict(...)``. Caption code calls
:meth:`ScoringGate.wait_turn` before every transformer layer and generated token; it returns at
once while scoring is idle (and has been for ``resume_after_s``, so back-to-back parts are not
interleaved with caption work), and otherwise blocks until scoring stops. With ``busy_share > 0``
caption work may also use about that fraction of the time while scoring never pauses (a token
bucket of at most ``max_burst_s``).

A caption process (:mod:`inspector.captioning.process`) sees the same gate through a small
shared control block (a memory-mapped file, :meth:`ScoringGate.share`), read by
:class:`SharedGateView` in the child: there is no lock across processes, the child polls every
couple of milliseconds while it waits. The control block also carries the id of a caption job
to cancel. No torch here.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from inspector.core.processes import process_tag, tag_alive, tag_in_name

# The control block: little-endian doubles at fixed offsets.
_FIELDS = ("busy", "last_exit", "resume_after", "busy_share", "max_burst", "cancel_job")
_SIZE = 8 * len(_FIELDS)
_OFFSET = {name: 8 * i for i, name in enumerate(_FIELDS)}
POLL_S = 0.002
GATE_PREFIX = "inspector-gate-"


class _ControlBlock:
    """The memory-mapped control block (both sides)."""

    def __init__(self, path: str, create: bool):
        self.path = path
        mode = "w+b" if create else "r+b"
        with open(path, mode) as f:
            if create:
                f.write(b"\0" * _SIZE)
                f.flush()
            self._map = mmap.mmap(f.fileno(), _SIZE)

    def get(self, name: str) -> float:
        return struct.unpack_from("<d", self._map, _OFFSET[name])[0]

    def set(self, name: str, value: float) -> None:
        struct.pack_into("<d", self._map, _OFFSET[name], float(value))

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()


class ScoringGate:
    """Lets caption work run only while no part is being scored (or within a small time share).

    Args:
        resume_after_s: Captions resume only after scoring has been idle this long.
        busy_share: Fraction of the time captions may still run while scoring is busy (0: never).
        max_burst_s: The most caption time that may be saved up for a busy period.
    """

    def __init__(self, resume_after_s: float = 0.05, busy_share: float = 0.0, max_burst_s: float = 0.25):
        if not 0.0 <= busy_share < 1.0:
            raise ValueError(f"busy_share must lie in [0, 1), got {busy_share}")
        self.resume_after_s = float(resume_after_s)
        self.busy_share = float(busy_share)
        self.max_burst_s = float(max_burst_s)
        self._cond = threading.Condition()
        self._busy = 0
        self._last_exit = -math.inf
        self._budget = self.max_burst_s
        self._refilled_at = time.monotonic()
        self._granted_busy_at: float | None = None
        self._block: _ControlBlock | None = None
        self._closed = False

    # -- the scoring side ------------------------------------------------------------------------
    def enter(self) -> None:
        """Scoring starts (calls nest: the gate is busy until every ``enter`` has its ``exit``)."""
        with self._cond:
            self._busy += 1
            if self._block is not None:
                self._block.set("busy", self._busy)

    def exit(self) -> None:
        with self._cond:
            self._busy = max(0, self._busy - 1)
            if self._busy == 0:
                self._last_exit = time.monotonic()
                if self._block is not None:
                    self._block.set("last_exit", self._last_exit)
                self._cond.notify_all()
            if self._block is not None:
                self._block.set("busy", self._busy)

    @contextlib.contextmanager
    def scoring(self) -> Iterator[None]:
        """``with gate.scoring(): detector.predict(...)`` - captions keep out of the way meanwhile."""
        self.enter()
        try:
            yield
        finally:
            self.exit()

    @property
    def busy(self) -> bool:
        return self._busy > 0

    # -- the caption side --------------------------------------------------------------------------
    def wake(self) -> None:
        """Wake a waiting caption (it was cancelled)."""
        with self._cond:
            self._cond.notify_all()

    def _refill(self, now: float) -> None:
        self._budget = min(self.max_burst_s, self._budget + (now - self._refilled_at) * self.busy_share)
        self._refilled_at = now

    def wait_turn(self, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Block until caption work may run (or ``cancelled()``); returns the seconds waited."""
        start = time.monotonic()
        with self._cond:
            if self._granted_busy_at is not None:  # charge the caption time used while scoring ran
                self._refill(start)
                self._budget -= start - self._granted_busy_at
                self._granted_busy_at = None
            while not cancelled():
                now = time.monotonic()
                if self._busy == 0:
                    idle = now - self._last_exit
                    if idle >= self.resume_after_s:
                        break
                    timeout: float | None = self.resume_after_s - idle
                elif self.busy_share > 0.0:
                    self._refill(now)
                    if self._budget > 0.0:
                        self._granted_busy_at = now
                        break
                    timeout = -self._budget / self.busy_share + 1e-3
                else:
                    timeout = None
                self._cond.wait(timeout)
        return time.monotonic() - start

    # -- sharing with a caption process --------------------------------------------------------------
    def share(self) -> str:
        """The path of the control block a caption process reads this gate from (made once)."""
        with self._cond:
            return self._shared_block().path

    def _shared_block(self) -> _ControlBlock:
        """The control block, made on first use (the caller holds ``self._cond``)."""
        if self._block is None:
            remove_stale_gate_files()
            fd, path = tempfile.mkstemp(prefix=f"{GATE_PREFIX}{process_tag()}-", dir=_shm_dir())
            os.close(fd)
            block = _ControlBlock(path, create=True)
            block.set("resume_after", self.resume_after_s)
            block.set("busy_share", self.busy_share)
            block.set("max_burst", self.max_burst_s)
            block.set("last_exit", self._last_exit if math.isfinite(self._last_exit) else -1e18)
            block.set("busy", self._busy)
            block.set("cancel_job", -1)
            self._block = block
        return self._block

    def cancel_job(self, job_id: int) -> None:
        """Ask the caption process to stop job ``job_id`` at its next layer."""
        with self._cond:  # one step: a close() on another thread cannot drop the block in between
            if self._block is None and self._closed:
                return  # closed: nothing left to cancel (a new block would be a file nobody removes)
            self._shared_block().set("cancel_job", job_id)

    def close(self) -> None:
        """Remove the control block (a caption process keeps its own mapping until it exits)."""
        with self._cond:
            self._closed = True
            if self._block is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._block.path)
                self._block.close()
                self._block = None


def remove_stale_gate_files(folder: str | None = None) -> int:
    """Delete control blocks left by stations that were killed; returns how many were removed."""
    folder = folder or _shm_dir() or tempfile.gettempdir()
    removed = 0
    try:
        names = [n for n in os.listdir(folder) if n.startswith(GATE_PREFIX)]
    except OSError:
        return 0
    for name in names:
        tag = tag_in_name(name[len(GATE_PREFIX) - 1 :])
        if tag is not None and not tag_alive(tag):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _shm_dir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class SharedGateView:
    """The caption process's view of the parent's gate (see :meth:`ScoringGate.share`)."""

    def __init__(self, path: str):
        self._block = _ControlBlock(path, create=False)
        self._budget = self._block.get("max_burst")
        self._refilled_at = time.monotonic()
        self._granted_busy_at: float | None = None

    def cancel_requested(self, job_id: int) -> bool:
        return int(self._block.get("cancel_job")) == job_id

    def wait_turn(self, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Like :meth:`ScoringGate.wait_turn`, polling the control block every ``POLL_S``."""
        start = time.monotonic()
        block = self._block
        share, burst = block.get("busy_share"), block.get("max_burst")
        if self._granted_busy_at is not None:
            self._refill(start, share, burst)
            self._budget -= start - self._granted_busy_at
            self._granted_busy_at = None
        while not cancelled():
            now = time.monotonic()
            if block.get("busy") <= 0:
                if now - block.get("last_exit") >= block.get("resume_after"):
                    break
            elif share > 0.0:
                self._refill(now, share, burst)
                if self._budget > 0.0:
                    self._granted_busy_at = now
                    break
            time.sleep(POLL_S)
        return time.monotonic() - start

    def _refill(self, now: float, share: float, burst: float) -> None:
        self._budget = min(burst, self._budget + (now - self._refilled_at) * share)
        self._refilled_at = now

    def close(self) -> None:
        self._block.close()
