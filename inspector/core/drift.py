"""Drift of the scores: a Shewhart X-bar / S chart against the calibration set.

Consecutive parts form subgroups of ``n`` (default 5). For each subgroup the chart plots its mean
(X-bar) and its standard deviation (S). The control limits come from the recipe's calibration good
scores (mean ``mu0``, standard deviation ``sigma0``), treated as the known standard (Montgomery,
*Introduction to Statistical Quality Control*, 6.2 and 6.3, "standard given")::

    X-bar:  centre mu0,          limits mu0 +/- 3 sigma0 / sqrt(n)
    S:      centre c4 sigma0,    limits B5 sigma0 .. B6 sigma0,  B5,6 = c4 -/+ 3 sqrt(1 - c4^2)  (B5 >= 0)

Why X-bar / S rather than EWMA: the line can move in two ways, and both matter here: the scores
rise (a worn tool, dirt on the lens) or they scatter (lighting flicker, parts seated loosely); X-bar
and S watch both with limits anyone can check by hand. EWMA watches the mean only; its strength,
small sustained shifts, is covered in part by the run rule below.

Out-of-control signals (Western Electric rules 1 and 4): a subgroup mean or S beyond its limits, or
eight subgroup means in a row on the same side of the centre line.

The reference is what calibration measured on good parts; production also holds defective parts,
so a rising share of defects moves the chart too, which is a change on the line worth a look. A
calibration from very few good parts gives a rough ``sigma0``: the chart says how many it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_SUBGROUP = 5
RUN_LENGTH = 8


def c4(n: int) -> float:
    """The bias constant of the sample standard deviation: E[S] = c4(n) sigma."""
    return math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2.0) - math.lgamma((n - 1) / 2.0))


@dataclass(frozen=True)
class ControlLimits:
    mean: float  # mu0
    sigma: float  # sigma0
    n_reference: int  # calibration good scores behind them
    subgroup: int
    xbar_low: float
    xbar_high: float
    s_centre: float
    s_low: float
    s_high: float

    @classmethod
    def from_reference(cls, scores, subgroup: int = DEFAULT_SUBGROUP) -> ControlLimits:
        ref = np.asarray(list(scores), dtype=np.float64)
        if ref.size < 2:
            raise ValueError("Control limits need at least two calibration good scores.")
        if subgroup < 2:
            raise ValueError("A subgroup needs at least two parts (its spread is part of the chart).")
        mu, sigma = float(ref.mean()), float(ref.std(ddof=1))
        k = c4(subgroup)
        half = 3.0 * sigma / math.sqrt(subgroup)
        spread = 3.0 * math.sqrt(1.0 - k * k)
        return cls(
            mu, sigma, int(ref.size), subgroup, mu - half, mu + half, k * sigma, max(0.0, k - spread) * sigma,
            (k + spread) * sigma,
        )  # fmt: skip


@dataclass(frozen=True)
class Alarm:
    subgroup: int  # index of the subgroup that signalled
    rule: str  # plain words


@dataclass(frozen=True)
class DriftChart:
    limits: ControlLimits
    means: tuple[float, ...]  # one per complete subgroup, in inspection order
    spreads: tuple[float, ...]
    last_part: tuple[int, ...]  # index (in the scores given) of each subgroup's last part
    alarms: tuple[Alarm, ...]

    @property
    def in_control(self) -> bool:
        return not self.alarms

    def latest_alarms(self, last: int = 1) -> tuple[Alarm, ...]:
        """Alarms raised by the newest ``last`` subgroups (what Live warns about)."""
        first = len(self.means) - last
        return tuple(a for a in self.alarms if a.subgroup >= first)

    def summary(self) -> str:
        lim = self.limits
        head = (
            f"X-bar/S chart, subgroups of {lim.subgroup} parts, limits from {lim.n_reference} calibration good "
            f"scores (mean {lim.mean:.4g}, sd {lim.sigma:.4g})"
        )
        if not self.means:
            return f"{head}: fewer than {lim.subgroup} parts, nothing to chart yet."
        if self.in_control:
            return f"{head}: {len(self.means)} subgroups, all in control."
        rules = sorted({a.rule for a in self.alarms})
        return f"{head}: {len(self.alarms)} signal(s) in {len(self.means)} subgroups: " + "; ".join(rules) + "."


def drift_chart(scores, limits: ControlLimits) -> DriftChart:
    """Chart ``scores`` (in inspection order) in complete subgroups; a last partial one is left out."""
    values = np.asarray(list(scores), dtype=np.float64)
    n = limits.subgroup
    k = values.size // n
    groups = values[: k * n].reshape(k, n) if k else np.empty((0, n))
    means = groups.mean(axis=1) if k else np.empty(0)
    spreads = groups.std(axis=1, ddof=1) if k else np.empty(0)
    alarms: list[Alarm] = []
    side_run, side = 0, 0
    for i in range(k):
        m, s = float(means[i]), float(spreads[i])
        if m > limits.xbar_high:
            alarms.append(Alarm(i, "mean above its upper control limit"))
        elif m < limits.xbar_low:
            alarms.append(Alarm(i, "mean below its lower control limit"))
        if s > limits.s_high:
            alarms.append(Alarm(i, "spread above its upper control limit"))
        elif s < limits.s_low:
            alarms.append(Alarm(i, "spread below its lower control limit"))
        now = 1 if m > limits.mean else (-1 if m < limits.mean else 0)
        side_run = side_run + 1 if now != 0 and now == side else (1 if now != 0 else 0)
        side = now
        if side_run >= RUN_LENGTH:
            where = "above" if side > 0 else "below"
            alarms.append(Alarm(i, f"{RUN_LENGTH} subgroup means in a row {where} the centre line"))
    return DriftChart(
        limits,
        tuple(float(x) for x in means),
        tuple(float(x) for x in spreads),
        tuple((i + 1) * n - 1 for i in range(k)),
        tuple(alarms),
    )


def reference_scores(calibration: dict) -> tuple[float, ...]:
    """The calibration good scores a recipe keeps (empty when it has none)."""
    scores = calibration.get("good_scores") if isinstance(calibration, dict) else None
    if not isinstance(scores, list):
        return ()
    return tuple(float(s) for s in scores if isinstance(s, int | float) and math.isfinite(s))
