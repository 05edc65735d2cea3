"""Helpers for the source tests: image bytes, slow writers, waiting without fixed sleeps."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from inspector.sources import SourceEvent, SourceState


def pattern(value: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """An RGB test image whose pixels depend on ``value`` (a gradient, so JPEG has real content)."""
    h, w = size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = value % 256
    img[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 2] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    return img


def encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path)
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds (generous, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class StateLog:
    """Collects state events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[SourceEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: SourceEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    @property
    def states(self) -> list[SourceState]:
        """States in order, consecutive repeats folded."""
        out: list[SourceState] = []
        for event in list(self.events):
            if not out or out[-1] is not event.state:
                out.append(event.state)
        return out

    def wait_for(self, state: SourceState, after: int = 0, timeout: float = 10.0) -> SourceEvent:
        """The first event with ``state`` at position >= ``after``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.state is state:
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {state.value} state within {timeout} s; got {self.states}")
                self._cond.wait(remaining)
