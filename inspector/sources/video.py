"""Cameras, video files and network streams through OpenCV's ``VideoCapture``.

- A camera (an index such as ``0``, or ``/dev/video0``) and a stream (``rtsp://``, ``http://`` ...)
  are *live*: the newest ``buffer_size`` frames are kept and older ones dropped (and counted) when
  inference falls behind. When a live source stops delivering frames for ``lost_after`` seconds its
  state becomes LOST, then RECONNECTING while it retries with back-off, then RUNNING again when frames
  come back; every change goes to the ``on_state`` callback, so the window can show "camera lost".
- A video file is not live by default: every frame is delivered in order, the reader waits for the
  consumer, and the end of the file is FINISHED. Opened with ``live=True`` it plays like a camera, at
  the file's own frame rate, dropping frames when inference falls behind (for demos and tests).

Frames come out RGB ``uint8`` (OpenCV's BGR, gray, BGRA and 16-bit frames are converted). Tests and
special cameras can pass ``capture_factory``: any object with ``isOpened()``, ``read()``, ``get()``
and ``release()`` works in place of ``cv2.VideoCapture``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from inspector.sources.base import Source, SourceError, SourceState, StateCallback

__all__ = [
    "STREAM_SCHEMES",
    "VIDEO_SUFFIXES",
    "Capture",
    "CaptureFactory",
    "VideoSource",
    "default_capture_factory",
    "describe_uri",
    "is_stream_url",
    "redact_url",
    "to_rgb",
]

STREAM_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
"""URL schemes opened as live network streams."""

VIDEO_SUFFIXES: tuple[str, ...] = (
    ".avi",
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".wmv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".mjpg",
    ".mjpeg",
    ".flv",
    ".3gp",
    ".ogv",
)
"""File suffixes (lower case) read as video files."""

STREAM_TIMEOUT_MS = 5000
"""How long OpenCV may wait to open a stream, or for one frame of it, before giving up."""

_DEVICE = re.compile(r"^/dev/video\d+$")


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a :class:`VideoSource` uses."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[int | str], Capture]
"""Opens a capture for a camera index, a file path or a URL."""


def is_stream_url(uri: object) -> bool:
    """True for a string URL with one of :data:`STREAM_SCHEMES`."""
    if not isinstance(uri, str) or "://" not in uri:
        return False
    return uri.split("://", 1)[0].lower() in STREAM_SCHEMES


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (camera URLs often carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def describe_uri(uri: int | str) -> str:
    """How the operator sees a source: "camera 0", "stream rtsp://cam:***@10.0.0.5/live", "video file ..."."""
    if isinstance(uri, int):
        return f"camera {uri}"
    if _DEVICE.match(uri):
        return f"camera {uri}"
    if is_stream_url(uri):
        return f"stream {redact_url(uri)}"
    return f"video file {uri}"


def default_capture_factory(uri: int | str) -> Capture:
    """Open ``cv2.VideoCapture`` for a camera index, a file, or a stream (with open/read time-outs)."""
    if isinstance(uri, int):
        return cv2.VideoCapture(uri)
    if is_stream_url(uri):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        return cv2.VideoCapture(uri, cv2.CAP_ANY, params)
    return cv2.VideoCapture(uri)


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA, gray; 8 or 16-bit) as RGB ``uint8`` ``(H, W, 3)``."""
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class VideoSource(Source):
    """A camera, a video file or a network stream.

    Args:
        uri: Camera index (``0``), camera device (``/dev/video0``), video file path, or stream URL.
        live: Keep only the newest frames when behind (default: True for cameras and streams, False for
            files).
        buffer_size: Frames held for the consumer (default 2 when live, 8 otherwise).
        realtime: Deliver a file's frames at its own frame rate (default: True for a file read live).
        sample_fps: Score at most this many frames per second of video (None or 0: every frame), as a
            video-timeline system samples a video; frames in between are read and passed over.
        lost_after: Seconds without a frame before a live source is LOST and reconnects.
        reconnect_delays: Waits (seconds) before each reconnect attempt; the last one repeats.
        max_reconnect_attempts: Give up (state ERROR) after this many failed attempts; None: never.
        capture_factory: Opens a capture for ``uri``; default :func:`default_capture_factory`.
        source_id: Name stored with every frame (default ``camera:0``, ``video:<path>``, ``stream:<url>``,
            passwords removed).
        on_state: State-change callback.
    """

    def __init__(
        self,
        uri: int | str | os.PathLike[str],
        *,
        live: bool | None = None,
        buffer_size: int | None = None,
        realtime: bool | None = None,
        sample_fps: float | None = None,
        lost_after: float = 2.0,
        reconnect_delays: Sequence[float] = (0.5, 1.0, 2.0, 5.0),
        max_reconnect_attempts: int | None = None,
        capture_factory: CaptureFactory | None = None,
        source_id: str | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        if isinstance(uri, os.PathLike):
            uri = os.fspath(uri)
        self.uri: int | str = uri
        self.is_camera = isinstance(uri, int) or bool(_DEVICE.match(uri))
        self.is_stream = is_stream_url(uri)
        self.is_file = not self.is_camera and not self.is_stream
        if live is None:
            live = not self.is_file
        if buffer_size is None:
            buffer_size = 2 if live else 8
        if source_id is None:
            if self.is_camera:
                source_id = f"camera:{uri}"
            elif self.is_stream:
                source_id = f"stream:{redact_url(str(uri))}"
            else:
                source_id = f"video:{Path(uri).absolute()}"
        super().__init__(source_id, live=live, buffer_size=buffer_size, on_state=on_state)
        self.name = describe_uri(uri)
        self.realtime = (live and self.is_file) if realtime is None else realtime
        if sample_fps is not None and not (sample_fps >= 0 and math.isfinite(sample_fps)):
            raise SourceError(f"The sampling rate must be a positive number of frames per second, not {sample_fps}.")
        self.sample_fps = float(sample_fps or 0.0)
        self._next_sample_s: float | None = None
        self._opened_at = 0.0
        self.lost_after = lost_after
        self.reconnect_delays = tuple(reconnect_delays) or (1.0,)
        self.max_reconnect_attempts = max_reconnect_attempts
        self._factory: CaptureFactory = capture_factory or default_capture_factory
        self._capture: Capture | None = None
        self._fps = 0.0
        self._declared_frames = 0
        self._count = 0
        self._path = Path(uri).absolute() if self.is_file else None
        self._reconnects = 0

    @property
    def fps(self) -> float:
        """Frame rate the capture reports (0 when unknown)."""
        return self._fps

    @property
    def total(self) -> int | None:
        """Frames a video file declares (read without dropping); None for cameras, streams and live files."""
        if self.is_file and not self.is_live and self._declared_frames > 0:
            return self._declared_frames
        return None

    @property
    def frame_count(self) -> int:
        """Frames read from the device or file so far (including dropped ones)."""
        return self._count

    @property
    def reconnects(self) -> int:
        """How many times a lost camera or stream was connected again."""
        return self._reconnects

    # ----------------------------------------------------------------- worker

    def _setup(self) -> None:
        if self.is_file and not Path(self.uri).exists():
            raise SourceError(f"The video file {self.uri} does not exist.")
        capture = self._connect()
        if capture is None:
            raise SourceError(self._cannot_open())
        self._capture = capture
        try:
            self._fps = max(0.0, float(capture.get(cv2.CAP_PROP_FPS) or 0.0))
            self._declared_frames = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        except Exception:  # noqa: BLE001 - a capture without these properties
            pass

    def _cannot_open(self) -> str:
        if self.is_camera:
            return (
                f"Cannot open {self.name}. Check that it is connected and switched on, and that no other "
                f"program is using it."
            )
        if self.is_stream:
            return f"Cannot open {self.name}. Check the address, the network and the camera's credentials."
        return f"Cannot open {self.name}: it is not a video this station can read, or it is damaged."

    def _connect(self) -> Capture | None:
        """A newly opened capture, or None when it cannot be opened."""
        try:
            capture = self._factory(self.uri)
        except Exception:  # noqa: BLE001 - OpenCV or a driver refusing: treated as "not available"
            return None
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _teardown(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def media_time(self, index: int) -> float:
        """Seconds from the start of the video for frame ``index`` of a file (by its frame rate), else since opening."""
        if self.is_file and self._fps > 0:
            return index / self._fps
        return time.monotonic() - self._opened_at

    def _sampled(self, media_time_s: float) -> bool:
        """Whether a frame at this time is one of the ``sample_fps`` frames per second to score."""
        if self.sample_fps <= 0:
            return True
        step = 1.0 / self.sample_fps
        if self._next_sample_s is None:
            self._next_sample_s = media_time_s
        if media_time_s + 1e-9 < self._next_sample_s:
            return False
        while self._next_sample_s <= media_time_s + 1e-9:
            self._next_sample_s += step
        return True

    def _run_loop(self) -> None:
        last_good = time.monotonic()
        started = last_good
        self._opened_at = started
        while not self._stop_event.is_set():
            capture = self._capture
            if capture is None:
                return
            ok, frame = capture.read()
            if self._stop_event.is_set():
                return
            if ok and frame is not None:
                last_good = time.monotonic()
                index = self._count
                self._count += 1
                if self.realtime and self._fps > 0 and self._wait(started + index / self._fps - time.monotonic()):
                    return
                media_time_s = self.media_time(index)
                if self._sampled(media_time_s):
                    self._emit(to_rgb(frame), path=self._path, index=index, media_time_s=media_time_s)
                continue
            if self.is_file:
                return  # end of the file: FINISHED
            if time.monotonic() - last_good < self.lost_after:
                if self._wait(0.02):
                    return
                continue
            self._set_state(
                SourceState.LOST, f"{self.name.capitalize()} lost: no frames for {time.monotonic() - last_good:.1f} s."
            )
            if not self._reconnect():
                return
            last_good = time.monotonic()

    def _reconnect(self) -> bool:
        """Retry with back-off until frames come again. False when stopped or given up (state ERROR)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        attempt = 0
        while True:
            delay = self.reconnect_delays[min(attempt, len(self.reconnect_delays) - 1)]
            if self._wait(delay):
                return False
            attempt += 1
            self._set_state(SourceState.RECONNECTING, f"Reconnecting to {self.name} (attempt {attempt})...")
            capture = self._connect()
            if capture is not None:
                ok, frame = capture.read()
                if ok and frame is not None:
                    self._capture = capture
                    self._reconnects += 1
                    self._set_state(
                        SourceState.RUNNING, f"{self.name.capitalize()} is back (after {attempt} attempt(s))."
                    )
                    index = self._count
                    self._count += 1
                    self._emit(to_rgb(frame), index=index)
                    return True
                capture.release()
            if self.max_reconnect_attempts is not None and attempt >= self.max_reconnect_attempts:
                self._fail(
                    f"{self.name.capitalize()} lost: no frames after {attempt} reconnect attempt(s). Check the "
                    f"cable, power and network, then start the source again."
                )
                return False
            next_delay = self.reconnect_delays[min(attempt, len(self.reconnect_delays) - 1)]
            self._set_state(
                SourceState.RECONNECTING,
                f"{self.name.capitalize()} still unavailable after attempt {attempt}; next try in {next_delay:g} s.",
            )

    def _finished_message(self) -> str:
        if self.is_file:
            text = f"End of {self.name}: {self._count} frame(s) read"
            if self.dropped:
                text += f", {self.dropped} dropped because inspection fell behind"
            if self._declared_frames and self._count < self._declared_frames - 1:
                text += f"; the file declares {self._declared_frames} frames, so it may be damaged or cut short"
            return text
        return f"{self.name.capitalize()} closed"
