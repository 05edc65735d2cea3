"""The "Station learning" charts as PNG bytes (Pillow, the report's :class:`~inspector.reports.charts.Canvas`)."""

from __future__ import annotations

import numpy as np

from inspector.core.drift import DriftChart
from inspector.core.review_stats import Limits, ReviewStats
from inspector.reports.charts import AXIS, COLORS, INK, Canvas, _x_ticks
from inspector.store import Verdict

LIMIT = (198, 40, 40)
CENTRE = (90, 90, 90)
POINT = (21, 101, 192)


def roc_png(review: ReviewStats, limits: Limits) -> bytes:
    """ROC of the reviewed parts with the recipe's operating point."""
    assert review.roc is not None
    c = Canvas(760, 620, margins=(96, 30, 56, 72))
    c.legend([(f"ROC (AUC {review.roc.auc:.3f})", INK, "line"), ("chance", AXIS, "dash"), ("threshold", POINT, "box")])

    def to_x(v: float) -> float:
        return c.x0 + v * (c.x1 - c.x0)

    to_y = c.y_axis(0.0, 1.0, "defective parts caught")
    _x_ticks(c, 0.0, 1.0, to_x)
    c.line([(to_x(0), to_y(0)), (to_x(1), to_y(1))], AXIS, 1.2, dash=6)
    c.line([(to_x(f), to_y(t)) for f, t in zip(review.roc.fpr, review.roc.tpr, strict=True)], INK, 2.2)
    good, bad = np.asarray(review.good), np.asarray(review.defective)
    fpr = float(np.mean(good >= limits.high)) if good.size else 0.0
    tpr = float(np.mean(bad >= limits.low)) if bad.size else 0.0
    x, y = to_x(fpr), to_y(tpr)
    c.rect(x - 6, y - 6, x + 6, y + 6, POINT)
    c.text(x + 10, y + 4, f"threshold {limits.threshold:.4g}", 16, POINT)
    c.frame()
    c.text((c.x0 + c.x1) / 2, c.height - 22, "false-reject rate (good parts failed)", 16, AXIS, anchor="mm")
    return c.png()


def drift_png(chart: DriftChart) -> bytes:
    """X-bar (top) and S (bottom) of consecutive subgroups, with the centre lines and control limits."""
    lim = chart.limits
    means, spreads = np.asarray(chart.means), np.asarray(chart.spreads)
    mean_flags = {a.subgroup for a in chart.alarms if "spread" not in a.rule}
    spread_flags = {a.subgroup for a in chart.alarms if "spread" in a.rule}
    pictures = []
    for title, values, centre, low, high, flagged in (
        (f"subgroup mean (X-bar, n = {lim.subgroup})", means, lim.mean, lim.xbar_low, lim.xbar_high, mean_flags),
        (f"subgroup spread (S, n = {lim.subgroup})", spreads, lim.s_centre, lim.s_low, lim.s_high, spread_flags),
    ):
        c = Canvas(1400, 330, margins=(96, 24, 44, 44))
        c.legend(
            [(title, POINT, "line"), ("centre", CENTRE, "dash"), ("control limits", LIMIT, "dash"),
             ("signal", COLORS[Verdict.FAIL], "box")]
        )  # fmt: skip
        lo = float(min(values.min(), low))
        hi = float(max(values.max(), high))
        pad = (hi - lo) * 0.08 or 1.0
        to_y = c.y_axis(lo - pad, hi + pad, "score")
        n = len(values)

        def to_x(i: float, n: int = n, c: Canvas = c) -> float:
            return c.x0 + (i + 0.5) / max(1, n) * (c.x1 - c.x0)

        for value, colour in ((centre, CENTRE), (low, LIMIT), (high, LIMIT)):
            c.line([(c.x0, to_y(value)), (c.x1, to_y(value))], colour, 1.6, dash=7)
        c.line([(to_x(i), to_y(float(v))) for i, v in enumerate(values)], POINT, 1.6)
        for i, v in enumerate(values):
            x, y = to_x(i), to_y(float(v))
            colour = COLORS[Verdict.FAIL] if i in flagged else POINT
            c.rect(x - 3.5, y - 3.5, x + 3.5, y + 3.5, colour)
        c.frame()
        step = max(1, n // 10)
        for i in range(0, n, step):
            c.text(to_x(i), c.y1 + 8, str(i + 1), 15, AXIS, anchor="ma")
        pictures.append(c)
    top, bottom = pictures
    joined = Canvas(1400, top.height + bottom.height + 30)
    joined.image.paste(top.image, (0, 0))
    joined.image.paste(bottom.image, (0, top.image.height))
    joined.text(
        700,
        joined.height - 16,
        f"subgroup (consecutive parts in inspection order); limits from {lim.n_reference} calibration good scores",
        16,
        AXIS,
        anchor="mm",
    )
    return joined.png()
