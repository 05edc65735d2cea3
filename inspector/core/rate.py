"""Parts per second as an operator reads it: steady from the second part on, and honest when idle."""

from __future__ import annotations

from collections import deque


class RateMeter:
    """The rate over the last ``span`` arrivals (at most ``window_s`` seconds back).

    It reads ``None`` until it can say something (no rate yet, rather than 0.0): from the first part
    when :meth:`start` was told when scoring began, else from the second; after that the rate of the
    recent parts, which falls towards 0 only once the line has been idle for longer than
    ``idle_factor`` times the recent interval between parts (a slow model is not shown as stopped).
    """

    def __init__(self, span: int = 20, window_s: float = 60.0, idle_factor: float = 3.0) -> None:
        self.span = span
        self.window_s = window_s
        self.idle_factor = idle_factor
        self._at: deque[float] = deque(maxlen=span)
        self._start: float | None = None
        self._count = 0

    def clear(self) -> None:
        self._at.clear()
        self._start = None
        self._count = 0

    def start(self, at: float) -> None:
        """Scoring started (the model is ready): the first parts' rate is counted from here, so parts
        that arrive together in one batch do not read as a burst of thousands per second."""
        self._start = at

    def add(self, at: float) -> None:
        self._at.append(at)
        self._count += 1

    def rate(self, now: float) -> float | None:
        while len(self._at) > 2 and now - self._at[0] > self.window_s:
            self._at.popleft()
        start = self._start
        if start is not None and self._count == len(self._at) and self._at:  # every part still here
            first, n = start, len(self._at)
        elif len(self._at) >= 2:
            first, n = self._at[0], len(self._at) - 1
        else:
            return None
        last = self._at[-1]
        interval = max((last - first) / n, 1e-6)
        idle = now - last
        if idle > self.idle_factor * interval:  # the line stopped: the rate decays with the idle time
            return n / max(now - first, 1e-6)
        return 1.0 / interval
