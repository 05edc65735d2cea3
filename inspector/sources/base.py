"""The one interface every image source implements: frames, states, and the worker thread behind them.

A source owns one thread (the pattern of anomalib's application backend): ``_setup()`` runs in
:meth:`Source.open` on the caller's thread, so a wrong folder or camera is reported at once as a
:class:`SourceError`; ``_run_loop()`` then runs on the source's own thread and hands frames to a
buffer; ``_teardown()`` runs on that thread when the loop ends. A stop event ends the loop.

The buffer decides what happens when inference falls behind:

- a *live* source (camera, stream) keeps only the newest frames: when the buffer is full the oldest
  frame is dropped and counted (:attr:`Source.dropped`);
- any other source (folder, hot folder, video file) waits until there is room, and skips nothing.

A file that cannot be read does not stop a run: it comes out as a :class:`Frame` with ``image=None``
and ``error`` set to a message for the operator, and it is listed in :attr:`Source.skipped`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np

from inspector.core.clock import utc_now
from inspector.errors import SourceError
from inspector.sources.entries import ReadImage

log = logging.getLogger(__name__)

__all__ = [
    "Frame",
    "FrameBuffer",
    "FrameCallback",
    "SkipRecord",
    "Source",
    "SourceError",
    "SourceEvent",
    "SourceState",
    "SourceStats",
    "StateCallback",
]


class SourceState(enum.StrEnum):
    """Where a source stands; shown to the operator next to the live view."""

    IDLE = "idle"
    """Created, not opened yet."""
    RUNNING = "running"
    """Delivering frames (a hot folder: watching)."""
    LOST = "lost"
    """The camera, stream or folder went away; frames have stopped."""
    RECONNECTING = "reconnecting"
    """Trying to get a lost camera or stream back."""
    FINISHED = "finished"
    """Every frame was delivered (end of a folder or a video file)."""
    STOPPED = "stopped"
    """Stopped on request before it finished."""
    ERROR = "error"
    """Stopped by a failure; :attr:`Source.error` says what happened."""

    @property
    def is_final(self) -> bool:
        """True when the source delivers no more new frames."""
        return self in (SourceState.FINISHED, SourceState.STOPPED, SourceState.ERROR)


@dataclass(frozen=True)
class Frame:
    """One image from a source, or the record of one that could not be read.

    Attributes:
        image: RGB ``uint8`` array ``(H, W, 3)``; None when the file could not be read.
        source_id: The source it came from (e.g. ``folder:/data/lot42`` or ``camera:0``).
        index: Position in the source: the file's place in a folder scan, the frame number in a video
            file, a running count for a camera (gaps there are dropped frames).
        timestamp: When the image was read (UTC, timezone-aware).
        path: The image or video file, when there is one.
        error: Why the image could not be read (a message for the operator); None for a good frame.
        media_time_s: Where the frame is in the video (seconds from its start: the frame's place in a
            file, time since the stream was opened for a camera or stream); None for still images.
        content_hash: sha256 of the file bytes the image was decoded from (image files read once).
        data: Those bytes (kept for the image copy of flagged parts).
    """

    image: np.ndarray | None
    source_id: str
    index: int
    timestamp: datetime
    path: Path | None = None
    error: str | None = None
    media_time_s: float | None = None
    content_hash: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the frame holds an image."""
        return self.image is not None and self.error is None


@dataclass(frozen=True)
class SkipRecord:
    """An image that was not inspected, and why.

    Attributes:
        path: The file, when there is one.
        reason: A message for the operator.
        timestamp: When it was skipped (UTC).
    """

    path: Path | None
    reason: str
    timestamp: datetime


@dataclass(frozen=True)
class SourceEvent:
    """A change of a source's state, with a message for the status bar.

    Attributes:
        source_id: The source it concerns.
        state: The new state.
        message: What happened, for the operator (e.g. "Camera 0 lost: no frames for 1.0 s").
        timestamp: When it happened (UTC).
    """

    source_id: str
    state: SourceState
    message: str
    timestamp: datetime


@dataclass(frozen=True)
class SourceStats:
    """Counters for the status bar.

    Attributes:
        state: Current state.
        delivered: Frames put into the buffer (good and error frames).
        dropped: Frames a live source dropped because inference fell behind.
        skipped: Files that could not be read.
        queued: Frames waiting in the buffer.
    """

    state: SourceState
    delivered: int
    dropped: int
    skipped: int
    queued: int


StateCallback = Callable[[SourceEvent], None]
"""Called from the source's thread (or the thread calling open/close) on every state change."""

FrameCallback = Callable[["Frame"], None]
"""Called from the source's thread with every frame it reads (see :attr:`Source.on_frame`)."""


class FrameBuffer:
    """A bounded, thread-safe frame queue between a source's thread and its consumer.

    Args:
        maxsize: Frames it holds at most (at least 1).
        drop_oldest: When full, :meth:`put` drops the oldest frame (live sources) instead of waiting.
    """

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        if maxsize < 1:
            raise ValueError(f"buffer size must be at least 1, not {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._dropped = 0

    def put(self, frame: Frame) -> bool:
        """Add a frame; wait for room unless ``drop_oldest``. False when the buffer was closed meanwhile."""
        with self._cond:
            if self._closed:
                return False
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    self._dropped += 1
            else:
                while len(self._items) >= self.maxsize and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return False
            self._items.append(frame)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest frame, waiting up to ``timeout`` seconds (None: until one comes or the buffer closes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
            frame = self._items.popleft()
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames will come: wake everyone waiting. Frames already in it can still be read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def drained(self) -> bool:
        """Closed and empty: :meth:`get` will never return a frame again."""
        with self._cond:
            return self._closed and not self._items

    @property
    def dropped(self) -> int:
        return self._dropped

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Source(ABC):
    """Base of every image source: a worker thread filling a :class:`FrameBuffer`.

    Use it as a context manager, or call :meth:`open` and :meth:`close`. Consumers read with
    :meth:`read` (with a timeout, so a worker can check its own stop flag) or iterate :meth:`frames`.

    Subclasses implement ``_setup()`` (on the caller's thread, may raise :class:`SourceError`),
    ``_run_loop()`` (on the source's thread; produce frames with ``_emit``, return when done or when
    ``_stop_event`` is set) and ``_teardown()`` (on the source's thread, after the loop).

    Args:
        source_id: Stable name of the source, stored with every frame.
        live: Drop the oldest frames when the consumer falls behind (cameras, streams).
        buffer_size: Frames held between the source's thread and the consumer.
        on_state: Called with a :class:`SourceEvent` on every state change (from the source's thread).
    """

    def __init__(self, source_id: str, *, live: bool, buffer_size: int, on_state: StateCallback | None = None) -> None:
        self.source_id = source_id
        self._live = live
        self._buffer = FrameBuffer(buffer_size, drop_oldest=live)
        self._on_state = on_state
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._state = SourceState.IDLE
        self._message = "Not started"
        self._error: str | None = None
        self._skipped: list[SkipRecord] = []
        self._next_index = 0
        self._delivered = 0
        self._thread: threading.Thread | None = None
        self._opened = False
        self.on_frame: FrameCallback | None = None
        """Called with every frame before it is buffered, on the source's thread (a live preview sees
        camera-rate frames even while scoring drops some). Must be quick; its errors are logged."""

    # ----------------------------------------------------------------- to implement

    @abstractmethod
    def _setup(self) -> None:
        """Check and open the underlying device or folder; raise :class:`SourceError` if impossible."""

    @abstractmethod
    def _run_loop(self) -> None:
        """Produce frames with :meth:`_emit` until done or until the stop event is set."""

    def _teardown(self) -> None:  # noqa: B027 - optional hook
        """Release what ``_setup`` opened (runs on the source's thread after the loop)."""

    def _finished_message(self) -> str:
        """Message for the FINISHED state."""
        return f"Finished: {self._delivered} image(s) read, {len(self._skipped)} skipped"

    # ----------------------------------------------------------------- properties

    @property
    def is_live(self) -> bool:
        """True for a camera or stream: the newest frames are kept, older ones dropped when behind."""
        return self._live

    @property
    def total(self) -> int | None:
        """How many frames the source will deliver, when known (a folder, a video file); None otherwise."""
        return None

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def message(self) -> str:
        """The latest state message, for the status bar."""
        return self._message

    @property
    def error(self) -> str | None:
        """Why the source stopped with :attr:`SourceState.ERROR`, else None."""
        return self._error

    @property
    def opened(self) -> bool:
        """True once :meth:`open` was called (sources are single-use)."""
        return self._opened

    @property
    def stop_event(self) -> threading.Event:
        """Set when the source was asked to stop."""
        return self._stop_event

    @property
    def dropped(self) -> int:
        """Frames dropped because the consumer fell behind (live sources only; always 0 otherwise)."""
        return self._buffer.dropped

    @property
    def skipped(self) -> list[SkipRecord]:
        """Every file that could not be read so far, with the reason (a copy)."""
        with self._lock:
            return list(self._skipped)

    @property
    def exhausted(self) -> bool:
        """True when no frame will ever come out of :meth:`read` again (finished, stopped or failed)."""
        return self._buffer.drained

    def stats(self) -> SourceStats:
        """Counters for the status bar."""
        with self._lock:
            skipped = len(self._skipped)
        return SourceStats(self._state, self._delivered, self._buffer.dropped, skipped, len(self._buffer))

    # ----------------------------------------------------------------- lifecycle

    def open(self) -> Source:
        """Open the source and start its thread. Sources are single-use: open once, close once.

        Returns:
            The source itself.

        Raises:
            SourceError: The folder, file, camera or stream cannot be opened.
        """
        if self._opened:
            raise RuntimeError(f"source {self.source_id} was already opened (sources are single-use)")
        self._opened = True
        try:
            self._setup()
        except SourceError as exc:
            self._fail(str(exc))
            raise
        except Exception as exc:
            message = f"Cannot open {self.source_id}: {exc}"
            self._fail(message)
            raise SourceError(message) from exc
        self._set_state(SourceState.RUNNING, "Running")
        self._thread = threading.Thread(target=self._thread_main, name=f"source-{self.source_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the source to stop; returns at once (thread-safe). Frames already buffered can still be read."""
        self._stop_event.set()
        self._buffer.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the source and wait (up to ``timeout`` seconds) for its thread to end."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("Source %s did not stop within %.1f s (blocked in a device read?)", self.source_id, timeout)
        elif thread is None and self._state is SourceState.IDLE:
            self._set_state(SourceState.STOPPED, "Stopped")

    def __enter__(self) -> Source:
        if not self._opened:
            self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- consuming

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, waiting up to ``timeout`` seconds (None: until a frame comes or the source ends).

        Returns:
            A frame, or None when none came in time or the source has ended (see :attr:`exhausted`).

        Raises:
            SourceError: The source has ended with an error and every buffered frame was read.
        """
        frame = self._buffer.get(timeout)
        if frame is None and self._error is not None and self._buffer.drained:
            raise SourceError(self._error)
        return frame

    def frames(self, poll: float = 0.1) -> Iterator[Frame]:
        """Yield frames until the source finishes or is stopped (a hot folder or camera: until stopped).

        Args:
            poll: How often (seconds) to check for the end while no frame comes.

        Raises:
            SourceError: The source ended with an error (after its buffered frames were yielded).
        """
        while True:
            frame = self.read(poll)
            if frame is not None:
                yield frame
            elif self.exhausted:
                return

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    # ----------------------------------------------------------------- for subclasses

    def _emit(
        self,
        image: np.ndarray | None,
        *,
        path: Path | None = None,
        error: str | None = None,
        index: int | None = None,
        media_time_s: float | None = None,
        read: ReadImage | None = None,
    ) -> bool:
        """Hand one frame (or one error record) to the consumer; waits for room unless live.

        Args:
            image: RGB uint8 image, or None with ``error`` for a file that could not be read.
            path: The file it came from.
            error: Why the file could not be read; also added to :attr:`skipped`.
            index: Frame index; by default the next number after the last one emitted.
            media_time_s: The frame's time in the video (video sources).
            read: The file as read once (its bytes and hash); ``image`` is then ``read.image``.

        Returns:
            False when the source was stopped (the frame was not delivered).
        """
        with self._lock:
            if index is None:
                index = self._next_index
            self._next_index = index + 1
        if read is not None:
            image = read.image
        frame = Frame(
            image=image,
            source_id=self.source_id,
            index=index,
            timestamp=utc_now(),
            path=path,
            error=error,
            media_time_s=media_time_s,
            content_hash=read.sha256 if read is not None else None,
            data=read.data if read is not None else None,
        )
        if self._stop_event.is_set():
            return False
        if error is not None:
            self._record_skip(path, error, frame.timestamp)
        if self.on_frame is not None:
            try:
                self.on_frame(frame)
            except Exception:  # a preview never stops the inspection
                log.exception("on_frame of %s failed", self.source_id)
        delivered = self._buffer.put(frame)
        if delivered:
            with self._lock:
                self._delivered += 1
        return delivered

    def _record_skip(self, path: Path | None, reason: str, timestamp: datetime | None = None) -> None:
        log.warning("%s: skipped %s: %s", self.source_id, path or "a frame", reason)
        with self._lock:
            self._skipped.append(SkipRecord(path, reason, timestamp or utc_now()))

    def _set_state(self, state: SourceState, message: str) -> None:
        """Change state (and message) and tell the ``on_state`` callback; repeated identical events are dropped."""
        with self._lock:
            if state is self._state and message == self._message:
                return
            if self._state.is_final:
                return  # a final state is never left
            self._state = state
            self._message = message
        log.info("%s: %s - %s", self.source_id, state.value, message)
        if self._on_state is not None:
            try:
                self._on_state(SourceEvent(self.source_id, state, message, utc_now()))
            except Exception:
                log.exception("State callback of %s failed", self.source_id)

    def _fail(self, message: str) -> None:
        self._error = message
        self._set_state(SourceState.ERROR, message)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless stopped; True when stopped."""
        return self._stop_event.wait(max(0.0, seconds))

    def _thread_main(self) -> None:
        try:
            self._run_loop()
        except SourceError as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("Source %s failed", self.source_id)
            self._fail(f"{self.source_id} stopped because of an unexpected error: {exc}")
        finally:
            try:
                self._teardown()
            except Exception:
                log.exception("Tear-down of source %s failed", self.source_id)
            if self._stop_event.is_set():
                self._set_state(SourceState.STOPPED, "Stopped")
            else:
                self._set_state(SourceState.FINISHED, self._finished_message())
            self._buffer.close()
