"""Terminal output helpers for the command line: a progress bar and tables."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

RANDOM_HELP = (
    "build the models with RANDOM WEIGHTS (tests and benchmarks only: results are meaningless and are marked so)"
)


class ProgressBar:
    """A one-line progress bar on stderr (plain periodic lines when stderr is not a terminal)."""

    def __init__(self, label: str, stream=None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_step = -1
        self._last_draw = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / total if total else 1.0
        eta = (total - done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:4.0f}s" if eta != float("inf") else "   ?s"
        text = f"{self.label} {done}/{total} {rate:5.1f} img/s ETA {eta_text} {message}"
        if self.tty:
            if now - self._last_draw < 0.1 and done < total:
                return
            filled = int(self.width * frac)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
            if done >= total:
                self.stream.write("\n")
            self._last_draw = now
        else:
            step = int(frac * 10)
            if step != self._last_step or done >= total:
                self._last_step = step
                self.stream.write(f"[{int(frac * 100):3d}%] {text}\n")
        self.stream.flush()


def format_rows(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned first column, right-aligned others."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    out = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    out += [fmt(r) for r in cells[1:]]
    return "\n".join(out)
