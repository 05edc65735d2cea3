"""Thresholds from reviewed parts: ROC, error rates with exact intervals, a proposed threshold.

Labels are the operators' decisions: a part an operator reviewed and left as PASS is a good part, one
left as FAIL a defective part (parts nobody reviewed are not labels: the model's own verdict would
only confirm itself). The score of each labelled part was computed by the detector, so the question
is where to put the threshold on that score.

Rates, for a recipe that passes below ``low``, fails at or above ``high`` and sends the parts in
between to review (``low == high == threshold`` without an uncertain band):

- *escape rate*: share of defective parts that would pass (score < low);
- *false-reject rate*: share of good parts that would fail outright (score >= high).

Each rate comes with a Clopper-Pearson interval (exact binomial, conservative: it never covers less
than the stated confidence). A target is met "with confidence c" when the *one-sided* upper
Clopper-Pearson bound at level c is at or below it. With ``k`` escapes among ``n`` defective parts
that bound solves ``P(X <= k | n, p) = 1 - c``; for ``k = 0`` it is ``1 - (1 - c) ** (1 / n)``, so
confirming an escape rate ``e`` needs at least ``ceil(ln(1 - c) / ln(1 - e))`` reviewed defective
parts even when none escapes (2,995 for 0.1 % at 95 %).

Proposals (:func:`propose_threshold`):

- target escape rate ``e``: the pass limit is the highest score that keeps the upper bound of the
  escape rate <= ``e``: with ``k`` the most escapes the bound allows, the ``(k+1)``-th lowest
  defective score (parts at or above it fail or go to review). The threshold sits there; the
  uncertain band runs from there up to ``band_good_quantile`` of the good scores, so parts scored
  like the top of the good parts are reviewed rather than rejected.
- target false-reject rate ``f``: the fail limit is just above the ``(j+1)``-th highest good score,
  ``j`` the most false rejects the bound allows; the band runs down to the lowest defective score
  (no reviewed defect would pass).
- only good parts reviewed: the percentile rule of :mod:`inspector.core.calibration` (a quantile of
  the good scores plus a margin of standard deviations), marked as the fallback.

When defects were reviewed but too few for the requested confidence, :class:`NotEnoughData` says how
many more are needed; nothing is proposed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from inspector.core.calibration import calibrate_threshold

#: Fewest reviewed good parts the percentile fallback accepts.
MIN_GOOD_FALLBACK = 10
#: A proposal sending more than this share of the good parts to review says so.
REVIEW_LOAD_WARNING = 0.5


class NotEnoughData(ValueError):
    """The reviewed parts do not support the requested target; the message says what is missing."""

    def __init__(self, message: str, *, needed: int = 0, have: int = 0, kind: str = "defective") -> None:
        super().__init__(message)
        self.needed = needed
        self.have = have
        self.kind = kind


# -- exact binomial intervals ------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (the Beta(a, b) distribution's CDF)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b), by bisection on :func:`beta_cdf` (monotone; 1e-12 in x)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


def upper_bound(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound of a binomial rate (k events in n trials)."""
    _check_counts(k, n)
    if k >= n:
        return 1.0
    return beta_ppf(confidence, k + 1, n - k)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval ``(low, high)`` of a binomial rate; ``(0, 1)`` when n = 0."""
    _check_counts(k, n)
    if n == 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else beta_ppf(tail, k, n - k + 1)
    high = 1.0 if k == n else beta_ppf(1.0 - tail, k + 1, n - k)
    return low, high


def needed_for_zero_events(target: float, confidence: float) -> int:
    """Trials needed so that zero events confirm ``rate <= target`` at ``confidence`` (one-sided)."""
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - target))


def _check_counts(k: int, n: int) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"a rate needs 0 <= k <= n (got k={k}, n={n})")


# -- typed results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its two-sided interval and one-sided upper bound at ``confidence``."""

    k: int
    n: int
    confidence: float
    low: float
    high: float
    upper: float

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @classmethod
    def of(cls, k: int, n: int, confidence: float) -> Rate:
        low, high = clopper_pearson(k, n, confidence)
        return cls(k, n, confidence, low, high, upper_bound(k, n, confidence) if n else 1.0)

    def describe(self) -> str:
        if not self.n:
            return "no parts"
        return (
            f"{100 * self.k / self.n:.2f} % ({self.k} of {self.n}; {100 * self.confidence:.0f} % interval "
            f"{100 * self.low:.2f} to {100 * self.high:.2f} %)"
        )


@dataclass(frozen=True)
class Limits:
    """Where a recipe passes, fails and reviews: pass below ``low``, fail at or above ``high``."""

    threshold: float
    band: tuple[float, float] | None

    @property
    def low(self) -> float:
        return self.band[0] if self.band else self.threshold

    @property
    def high(self) -> float:
        return self.band[1] if self.band else self.threshold


@dataclass(frozen=True)
class Rates:
    """Error and review rates of the labelled parts at some limits."""

    limits: Limits
    escape: Rate  # defective parts that pass
    false_reject: Rate  # good parts that fail outright
    review_good: int  # good parts in the uncertain band
    review_defective: int  # defective parts in the uncertain band


@dataclass(frozen=True)
class Roc:
    """Receiver operating characteristic of the labelled scores (defective = positive)."""

    fpr: tuple[float, ...]  # from (0, 0) to (1, 1), thresholds descending
    tpr: tuple[float, ...]
    thresholds: tuple[float, ...]  # the score each point's threshold sits at ("fail if >= threshold")
    auc: float


class Method(StrEnum):
    ESCAPE = "target escape rate"
    FALSE_REJECT = "target false-reject rate"
    FALLBACK = "fallback: percentile of reviewed good parts plus a margin (no reviewed defective parts)"


@dataclass(frozen=True)
class Proposal:
    method: Method
    target: float | None  # the target rate (None for the fallback)
    confidence: float
    limits: Limits
    rates: Rates  # of the reviewed parts at the proposed limits
    note: str  # plain words: what the numbers mean and what they do not show

    @property
    def fallback(self) -> bool:
        return self.method is Method.FALLBACK


@dataclass(frozen=True)
class ReviewStats:
    """Everything the Recipes screen, the CLI and the report show about reviewed parts."""

    good: tuple[float, ...]
    defective: tuple[float, ...]
    confidence: float
    current: Rates
    roc: Roc | None  # None unless both classes were reviewed


# -- computations --------------------------------------------------------------------------------------


def rates_at(good, defective, limits: Limits, confidence: float = 0.95) -> Rates:
    """Escape and false-reject rates (with intervals) of labelled scores at ``limits``."""
    g = np.asarray(good, dtype=np.float64)
    d = np.asarray(defective, dtype=np.float64)
    escapes = int(np.count_nonzero(d < limits.low))
    rejects = int(np.count_nonzero(g >= limits.high))
    return Rates(
        limits,
        Rate.of(escapes, int(d.size), confidence),
        Rate.of(rejects, int(g.size), confidence),
        review_good=int(np.count_nonzero((g >= limits.low) & (g < limits.high))),
        review_defective=int(np.count_nonzero((d >= limits.low) & (d < limits.high))),
    )


def roc_curve(good, defective) -> Roc:
    """ROC of "fail if score >= t" over every distinct score; AUC by the trapezoid rule (ties count half)."""
    g = np.asarray(good, dtype=np.float64)
    d = np.asarray(defective, dtype=np.float64)
    if not g.size or not d.size:
        raise ValueError("A ROC needs reviewed good and reviewed defective parts.")
    cuts = np.unique(np.concatenate([g, d]))[::-1]
    fpr = [0.0] + [float(np.count_nonzero(g >= t)) / g.size for t in cuts]
    tpr = [0.0] + [float(np.count_nonzero(d >= t)) / d.size for t in cuts]
    thresholds = [math.inf] + [float(t) for t in cuts]
    auc = float(sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2.0 for i in range(1, len(fpr))))
    return Roc(tuple(fpr), tuple(tpr), tuple(thresholds), auc)


def review_stats(good, defective, current: Limits, confidence: float = 0.95) -> ReviewStats:
    """ROC (when both classes were reviewed) and the rates at the recipe's current limits."""
    _check_confidence(confidence)
    g = tuple(float(s) for s in good)
    d = tuple(float(s) for s in defective)
    if not all(math.isfinite(s) for s in g + d):
        raise ValueError("Reviewed scores must be finite numbers.")
    roc = roc_curve(g, d) if g and d else None
    return ReviewStats(g, d, confidence, rates_at(g, d, current, confidence), roc)


def most_events_allowed(n: int, target: float, confidence: float) -> int:
    """The largest k whose one-sided upper bound at ``confidence`` is <= ``target`` (-1: none is)."""
    k = -1
    while k + 1 <= n and upper_bound(k + 1, n, confidence) <= target:
        k += 1
    return k


def propose_threshold(
    stats: ReviewStats,
    *,
    target_escape: float | None = None,
    target_false_reject: float | None = None,
    band_good_quantile: float = 0.99,
    fallback_quantile: float = 0.99,
    fallback_margin: float = 1.0,
    fallback_band: float = 1.0,
) -> Proposal:
    """A threshold and uncertain band for one target rate (see the module docstring).

    Raises:
        NotEnoughData: the reviewed parts cannot confirm the target at the stats' confidence, or too
            few parts were reviewed for any rule (the message says how many more are needed).
        ValueError: both or neither target given, or a target outside (0, 1).
    """
    if (target_escape is None) == (target_false_reject is None):
        raise ValueError("Give exactly one target: an escape rate or a false-reject rate.")
    target = target_escape if target_escape is not None else target_false_reject
    assert target is not None
    if not 0.0 < target < 1.0:
        raise ValueError(f"A target rate must be between 0 and 1 (got {target:g}).")
    c = stats.confidence
    good = np.sort(np.asarray(stats.good, dtype=np.float64))
    bad = np.sort(np.asarray(stats.defective, dtype=np.float64))
    if not bad.size:
        return _fallback(stats, target_escape, fallback_quantile, fallback_margin, fallback_band)
    if target_escape is not None:
        k = most_events_allowed(int(bad.size), target_escape, c)
        if k < 0:
            needed = needed_for_zero_events(target_escape, c)
            raise NotEnoughData(
                f"The reviewed parts do not support an escape rate <= {_pct(target_escape)} with "
                f"{_pct(c, 0)} confidence: {bad.size} reviewed defective part(s); even with no escape "
                f"that needs {needed:,}, so {needed - bad.size:,} more reviewed defective parts are needed "
                "(or choose a looser target).",
                needed=needed - int(bad.size),
                have=int(bad.size),
                kind="defective",
            )
        low = float(bad[k])
        top_good = float(np.quantile(good, band_good_quantile)) if good.size else low
        high = max(low, top_good)
        note = (
            f"Pass below {low:.4g}: at most {k} of the {bad.size} reviewed defective parts scored lower, "
            f"which keeps the escape rate's {_pct(c, 0)} upper bound <= {_pct(target_escape)}."
        )
        method = Method.ESCAPE
    else:
        assert target_false_reject is not None
        if not good.size:
            raise NotEnoughData("No reviewed good parts: a false-reject target needs them.", kind="good")
        j = most_events_allowed(int(good.size), target_false_reject, c)
        if j < 0:
            needed = needed_for_zero_events(target_false_reject, c)
            raise NotEnoughData(
                f"The reviewed parts do not support a false-reject rate <= {_pct(target_false_reject)} with "
                f"{_pct(c, 0)} confidence: {good.size} reviewed good part(s); that needs {needed:,}, so "
                f"{needed - good.size:,} more reviewed good parts are needed (or choose a looser target).",
                needed=needed - int(good.size),
                have=int(good.size),
                kind="good",
            )
        high = float(np.nextafter(good[::-1][j], math.inf))
        low = min(high, float(bad[0]))
        note = (
            f"Fail at or above {high:.4g}: at most {j} of the {good.size} reviewed good parts scored that "
            f"high, which keeps the false-reject rate's {_pct(c, 0)} upper bound <= {_pct(target_false_reject)}."
        )
        method = Method.FALSE_REJECT
    threshold = low if method is Method.ESCAPE else high
    limits = Limits(threshold, (low, high) if high > low else None)
    rates = rates_at(good, bad, limits, c)
    return Proposal(method, target, c, limits, rates, note + " " + _review_note(rates))


def _fallback(stats: ReviewStats, target_escape, quantile: float, margin: float, band: float) -> Proposal:
    n = len(stats.good)
    if n < MIN_GOOD_FALLBACK:
        raise NotEnoughData(
            f"Only {n} reviewed good part(s) and no reviewed defective part: the fallback rule needs at "
            f"least {MIN_GOOD_FALLBACK} reviewed good parts ({MIN_GOOD_FALLBACK - n} more).",
            needed=MIN_GOOD_FALLBACK - n,
            have=n,
            kind="good",
        )
    cal = calibrate_threshold(stats.good, quantile=quantile, margin=margin, band=band, method="reviewed good parts")
    limits = Limits(cal.threshold, cal.uncertain_band)
    rates = rates_at(stats.good, (), limits, stats.confidence)
    escape = ""
    if target_escape is not None:
        needed = needed_for_zero_events(target_escape, stats.confidence)
        escape = (
            f" The escape rate is not known: confirming <= {_pct(target_escape)} with "
            f"{_pct(stats.confidence, 0)} confidence needs at least {needed:,} reviewed defective parts."
        )
    note = (
        f"FALLBACK (no reviewed defective parts): the {quantile:g} quantile of {n} reviewed good scores "
        f"plus {margin:g} standard deviations.{escape}"
    )
    return Proposal(Method.FALLBACK, None, stats.confidence, limits, rates, note)


def _review_note(rates: Rates) -> str:
    if rates.limits.band is None:
        return "No uncertain band is needed: the reviewed parts separate at the threshold."
    lo, hi = rates.limits.band
    text = (
        f"Parts from {lo:.4g} to {hi:.4g} go to review ({rates.review_good} of the reviewed good and "
        f"{rates.review_defective} of the reviewed defective parts scored there)."
    )
    n_good = rates.false_reject.n
    if n_good and rates.review_good > REVIEW_LOAD_WARNING * n_good:
        text += (
            f" WARNING: {100 * rates.review_good / n_good:.0f} % of the good parts would go to review: the scores "
            "do not separate good from defective parts well enough to meet this target with a threshold."
        )
    return text


def _pct(value: float, digits: int = 2) -> str:
    text = f"{100 * value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{100 * value:.0f}"
    return f"{text} %"


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be at least 0.5 and below 1 (got {confidence:g}).")
