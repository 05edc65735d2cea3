"""The report's charts as PNG bytes, drawn with Pillow and NumPy: no display, no Qt, any thread.

Drawn at twice the output size and scaled down (anti-aliased lines and text). Colours are those of
the station: green pass, amber uncertain, red fail.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Protocol, overload

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inspector.reports.model import PAUSE_S, VERDICTS, Charts, DefectCount, ReportData
from inspector.reports.scope import to_zone
from inspector.store import Verdict

SS = 2  # supersampling factor
WIDTH, HEIGHT = 1400, 500
COLORS = {Verdict.PASS: (46, 125, 50), Verdict.UNCERTAIN: (240, 160, 0), Verdict.FAIL: (198, 40, 40)}
INK = (33, 33, 33)
GRID = (225, 225, 225)
AXIS = (120, 120, 120)
BAND = (255, 236, 179)
MEDIAN = (21, 101, 192)
_FONT_FILES = ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf", "segoeui.ttf", "LiberationSans-Regular.ttf")


class Scale(Protocol):
    """Value -> pixel coordinate, for one value or element-wise for an array."""

    @overload
    def __call__(self, v: float, /) -> float: ...
    @overload
    def __call__(self, v: np.ndarray, /) -> np.ndarray: ...


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A sans-serif font of ``size`` pixels: a system font if found, else Pillow's own."""
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (1, 2, 2.5, 5 x 10^k steps)."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step + 1e-9) + 1)]


def fmt_tick(value: float, step: float) -> str:
    decimals = max(0, min(6, -math.floor(math.log10(step)) + (1 if str(step).rstrip("0").endswith("5") else 0)))
    return f"{value:.{decimals}f}" if step < 1 else f"{value:,.0f}"


class Canvas:
    """A chart drawn at SS times its final size; coordinates are given in final pixels."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, margins=(96, 24, 56, 64)) -> None:
        self.width, self.height = width, height
        self.image = Image.new("RGB", (width * SS, height * SS), "white")
        self.draw = ImageDraw.Draw(self.image)
        left, right, top, bottom = margins
        self.x0, self.x1, self.y0, self.y1 = left, width - right, top, height - bottom  # plot area

    def s(self, *values: float) -> list[float]:
        return [v * SS for v in values]

    def line(self, points: Sequence[tuple[float, float]], color, width: float = 1.5, dash: float = 0) -> None:
        pts = [(x * SS, y * SS) for x, y in points]
        if not dash:
            self.draw.line(pts, fill=color, width=max(1, round(width * SS)))
            return
        for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
            length = math.hypot(bx - ax, by - ay)
            steps = max(1, int(length / (dash * SS)))
            for i in range(0, steps, 2):
                t0, t1 = i / steps, min(1.0, (i + 1) / steps)
                self.draw.line(
                    [(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                    fill=color, width=max(1, round(width * SS)),
                )  # fmt: skip

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill, outline=None) -> None:
        self.draw.rectangle(self.s(x0, y0, x1, y1), fill=fill, outline=outline)

    def text(self, x: float, y: float, text: str, size: int = 17, color=INK, anchor: str = "la") -> float:
        """Draw text; returns its width in final pixels."""
        f = font(size * SS)
        self.draw.text((x * SS, y * SS), text, fill=color, font=f, anchor=anchor)
        return self.draw.textlength(text, font=f) / SS

    def measure(self, text: str, size: int = 17) -> float:
        return self.draw.textlength(text, font=font(size * SS)) / SS

    def legend(self, items: Sequence[tuple[str, tuple[int, int, int], str]], y: float = 18) -> None:
        """``(label, colour, kind)`` items left to right above the plot; kind: box, line, dash."""
        x = self.x0
        for label, color, kind in items:
            if kind == "box":
                self.rect(x, y - 6, x + 14, y + 8, color)
            else:
                self.line([(x, y + 1), (x + 22, y + 1)], color, 2.0, dash=5 if kind == "dash" else 0)
            x += 28 + self.text(x + (20 if kind == "box" else 28), y + 1, label, 17, anchor="lm") + 20

    def y_axis(self, lo: float, hi: float, label: str) -> Scale:
        """Grid lines and labels for values ``lo..hi``; returns value -> y."""

        @overload
        def to_y(v: float, /) -> float: ...
        @overload
        def to_y(v: np.ndarray, /) -> np.ndarray: ...
        def to_y(v: float | np.ndarray, /) -> float | np.ndarray:
            return self.y1 - (v - lo) / ((hi - lo) or 1) * (self.y1 - self.y0)

        ticks = nice_ticks(lo, hi, 5)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        for t in ticks:
            y = to_y(t)
            self.line([(self.x0, y), (self.x1, y)], GRID, 1)
            self.text(self.x0 - 8, y, fmt_tick(t, step), 16, AXIS, anchor="rm")
        vertical = Image.new("RGBA", (int((self.y1 - self.y0) * SS), int(22 * SS)), (255, 255, 255, 0))
        ImageDraw.Draw(vertical).text(
            (vertical.width / 2, vertical.height / 2), label, fill=AXIS, font=font(16 * SS), anchor="mm"
        )
        rotated = vertical.rotate(90, expand=True)
        self.image.paste(rotated, (int(6 * SS), int(self.y0 * SS)), rotated)
        return to_y

    def frame(self) -> None:
        self.line([(self.x0, self.y1), (self.x1, self.y1)], AXIS, 1.2)
        self.line([(self.x0, self.y0), (self.x0, self.y1)], AXIS, 1.2)

    def message(self, text: str) -> None:
        self.text((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2, text, 18, AXIS, anchor="mm")

    def png(self) -> bytes:
        final = self.image.resize((self.width, self.height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        final.save(out, format="PNG", optimize=True)
        return out.getvalue()


def histogram_png(data: ReportData) -> bytes:
    h = data.histogram
    c = Canvas()
    c.legend(
        [(v.value, COLORS[v], "box") for v in VERDICTS]
        + [("threshold", INK, "dash")]
        + ([("uncertain band", BAND, "box")] if h.bands else [])
    )
    edges = h.edges
    lo, hi = float(edges[0]), float(edges[-1])

    def to_x(v: float) -> float:
        return c.x0 + (v - lo) / ((hi - lo) or 1) * (c.x1 - c.x0)

    stacked = np.vstack(h.counts) if len(h.counts[0]) else np.zeros((3, len(edges) - 1))
    top = float(stacked.sum(axis=0).max()) if stacked.size else 0.0
    for band in h.bands:
        c.rect(to_x(band[0]), c.y0, to_x(band[1]), c.y1, BAND)
    to_y = c.y_axis(0.0, max(5.0, top * 1.08), "parts")  # at least 0..5: whole-part ticks
    for b in range(len(edges) - 1):
        base = 0.0
        xa, xb = to_x(edges[b]) + 1, to_x(edges[b + 1]) - 1
        for i, verdict in enumerate(VERDICTS):
            n = float(stacked[i, b])
            if n <= 0:
                continue
            ya, yb = to_y(base), to_y(base + n)
            c.rect(xa, min(yb, ya - 2), xb, ya, COLORS[verdict])  # at least 2 px: one part stays visible
            base += n
    _x_ticks(c, lo, hi, to_x)
    label_y, last_end = c.y0 + 4, -1e9
    for t, users in h.thresholds:
        x = to_x(t)
        c.line([(x, c.y0 - 4), (x, c.y1)], INK, 2.0, dash=6)
        label = f"threshold {t:.4g}" + (f" ({users})" if len(h.thresholds) > 1 else "")
        label_y = label_y + 23 if x + 5 < last_end else c.y0 + 4  # stagger labels that would overlap
        c.rect(x + 3, label_y - 1, x + 9 + c.measure(label, 16), label_y + 20, (255, 255, 255))
        last_end = x + 5 + c.text(x + 6, label_y, label, 16)
    c.frame()
    c.text((c.x0 + c.x1) / 2, c.height - 18, "anomaly score  (colour: verdict after review)", 16, AXIS, anchor="mm")
    if not data.inspections:
        c.message("No inspections in this report")
    return c.png()


def _x_ticks(c: Canvas, lo: float, hi: float, to_x: Callable[[float], float]) -> float:
    ticks = nice_ticks(lo, hi, 8)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for t in ticks:
        x = to_x(t)
        c.line([(x, c.y1), (x, c.y1 + 5)], AXIS, 1)
        c.text(x, c.y1 + 8, fmt_tick(t, step), 16, AXIS, anchor="ma")
    return step


def trend_png(data: ReportData, tz: tzinfo | None = None) -> bytes:
    s = data.series
    c = Canvas()
    c.legend(
        [(v.value, COLORS[v], "box") for v in VERDICTS]
        + [("threshold", INK, "line"), ("median of 25 parts", MEDIAN, "line"), ("pause", AXIS, "dash")]
    )
    n = len(s.scores)
    if not n:
        c.y_axis(0.0, 1.0, "anomaly score")
        c.frame()
        c.message("No inspections in this report")
        return c.png()
    values = np.concatenate([s.scores, s.thresholds])
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * 0.06 or 0.5
    to_y = c.y_axis(lo - pad, hi + pad, "anomaly score")

    @overload
    def to_x(i: float, /) -> float: ...
    @overload
    def to_x(i: np.ndarray, /) -> np.ndarray: ...
    def to_x(i: float | np.ndarray, /) -> float | np.ndarray:
        return c.x0 + 6 + (np.asarray(i) + 0.5) / n * (c.x1 - c.x0 - 12)

    gaps = np.nonzero(np.diff(s.times) > PAUSE_S)[0]
    for g in gaps[:200]:
        x = float(to_x(g + 0.5))
        c.line([(x, c.y0), (x, c.y1)], AXIS, 1.0, dash=4)
    xs, ys = to_x(np.arange(n)), to_y(s.scores)
    _scatter(c, xs, ys, s.verdicts)
    step_pts: list[tuple[float, float]] = []
    for i in range(n):
        y = float(to_y(s.thresholds[i]))
        if step_pts and step_pts[-1][1] != y:
            step_pts.append((float(to_x(i - 0.5)), step_pts[-1][1]))
            step_pts.append((float(to_x(i - 0.5)), y))
        elif not step_pts:
            step_pts.append((float(to_x(-0.5)), y))
    step_pts.append((float(to_x(n - 0.5)), step_pts[-1][1]))
    c.line(step_pts, INK, 2.0)
    if n >= 5:
        window = 25 if n >= 50 else 5
        med = _rolling_median(s.scores, window)
        c.line(list(zip(xs.tolist(), to_y(med).tolist(), strict=True)), MEDIAN, 2.0)
    _time_ticks(c, s.times, to_x, tz if tz is not None else data.tz)
    c.frame()
    c.text((c.x0 + c.x1) / 2, c.height - 18, "parts in inspection order (time of day below)", 16, AXIS, anchor="mm")
    return c.png()


def _scatter(c: Canvas, xs: np.ndarray, ys: np.ndarray, codes: np.ndarray) -> None:
    """One dot per part; pass first, then uncertain, fail on top (codes are in that order)."""
    order = np.argsort(codes, kind="stable")
    n = len(xs)
    if n <= 20000:
        r = (3.2 if n <= 1500 else 2.0 if n <= 6000 else 1.2) * SS
        for i in order:
            x, y = xs[i] * SS, ys[i] * SS
            c.draw.ellipse([x - r, y - r, x + r, y + r], fill=COLORS[VERDICTS[codes[i]]])
        return
    pixels = np.asarray(c.image).copy()  # many parts: set pixels directly, 2 x 2 per part
    colors = np.array([COLORS[v] for v in VERDICTS], dtype=np.uint8)
    px = np.clip((xs[order] * SS).astype(int), 0, pixels.shape[1] - 2)
    py = np.clip((ys[order] * SS).astype(int), 0, pixels.shape[0] - 2)
    for dx in (0, 1):
        for dy in (0, 1):
            pixels[py + dy, px + dx] = colors[codes[order]]
    c.image.paste(Image.fromarray(pixels))


def _rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median; near the ends the window shrinks to the parts there are."""
    half = window // 2
    n = len(values)
    if n <= 2 * half:
        return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(n)])
    out = np.empty(n)
    out[half : n - half] = np.median(np.lib.stride_tricks.sliding_window_view(values, 2 * half + 1), axis=1)
    for i in (*range(half), *range(n - half, n)):
        out[i] = np.median(values[max(0, i - half) : i + half + 1])
    return out


def _time_ticks(c: Canvas, times: np.ndarray, to_x: Callable[[float], float], tz: tzinfo | None) -> None:
    n = len(times)
    count = min(n, 7)
    idx = sorted({round(k * (n - 1) / max(1, count - 1)) for k in range(count)})
    last_day = None
    for i in idx:
        when = to_zone(datetime.fromtimestamp(float(times[i]), UTC), tz)
        x = float(to_x(i))
        c.line([(x, c.y1), (x, c.y1 + 5)], AXIS, 1)
        day = when.strftime("%Y-%m-%d")
        label = when.strftime("%H:%M") if day == last_day else f"{day} {when.strftime('%H:%M')}"
        anchor = "la" if i == idx[0] else "ra" if i == idx[-1] else "ma"
        c.text(x, c.y1 + 8, label, 16, AXIS, anchor=anchor)
        last_day = day


def defects_png(data: ReportData, top: int = 12) -> bytes | None:
    defects = list(data.defects)
    if not defects:
        return None
    shown = defects[:top]
    if len(defects) > top:
        others = defects[top:]
        shown.append(
            DefectCount(
                f"other ({len(others)} types)", sum(d.parts for d in others),
                sum(d.by_operator for d in others), sum(d.by_captioner for d in others),
            )
        )  # fmt: skip
    row = 34
    labels = [d.label for d in shown]
    probe = Canvas(10, 10)
    left = 24 + max(probe.measure(label, 17) for label in labels)
    left = min(max(left, 120), 520)
    c = Canvas(WIDTH, 48 + row * len(shown) + 16, margins=(int(left), 130, 48, 16))
    dark, light, grey = COLORS[Verdict.FAIL], (239, 154, 154), (189, 189, 189)
    c.legend([("labelled by an operator", dark, "box"), ("captioner's guess", light, "box"), ("no label", grey, "box")])
    most = max(d.parts for d in shown)

    def to_x(v: float) -> float:
        return c.x0 + v / most * (c.x1 - c.x0)

    for k, d in enumerate(shown):
        y = c.y0 + k * row + 5
        label = d.label if len(d.label) <= 60 else d.label[:57] + "..."
        c.text(c.x0 - 10, y + row / 2 - 4, label, 17, anchor="rm")
        done = 0
        rest = d.parts - d.by_operator - d.by_captioner
        for n, color in ((d.by_operator, dark), (d.by_captioner, light), (rest, grey)):
            if n > 0:
                c.rect(to_x(done), y, to_x(done + n), y + row - 10, color)
                done += n
        x = to_x(done)
        share = d.parts / data.effective_counts.failed * 100 if data.effective_counts.failed else 0
        c.text(x + 8, y + row / 2 - 4, f"{d.parts}  ({share:.0f}%)", 17, anchor="lm")
    c.line([(c.x0, c.y0), (c.x0, c.y0 + row * len(shown))], AXIS, 1.2)
    return c.png()


def draw_charts(data: ReportData) -> Charts:
    """All the report's charts (called once by :func:`~inspector.reports.data.gather_report`)."""
    return Charts(histogram=histogram_png(data), trend=trend_png(data), defects=defects_png(data))
