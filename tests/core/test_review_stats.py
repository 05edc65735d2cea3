"""Thresholds from reviewed parts: exact intervals against hand computations, ROC, proposals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.core.calibration import calibrate_threshold
from inspector.core.review_stats import (
    Limits,
    Method,
    NotEnoughData,
    clopper_pearson,
    most_events_allowed,
    needed_for_zero_events,
    propose_threshold,
    rates_at,
    review_stats,
    roc_curve,
    upper_bound,
)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed term by term (the definition, no library)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize("n", [1, 7, 60, 2995])
def test_zero_events_upper_bound_is_the_closed_form(n):
    assert upper_bound(0, n, 0.95) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-10)
    low, high = clopper_pearson(n, n, 0.95)
    assert low == pytest.approx(0.025 ** (1 / n), abs=1e-10) and high == 1.0


@pytest.mark.parametrize(("k", "n"), [(1, 10), (5, 20), (3, 100), (40, 50)])
def test_clopper_pearson_solves_the_binomial_tail_equations(k, n):
    low, high = clopper_pearson(k, n, 0.95)
    # the interval's ends are where observing k (or more / or fewer) has exactly 2.5 % probability
    assert binom_cdf(k, n, high) == pytest.approx(0.025, abs=1e-9)
    assert 1 - binom_cdf(k - 1, n, low) == pytest.approx(0.025, abs=1e-9)
    assert binom_cdf(k, n, upper_bound(k, n, 0.95)) == pytest.approx(0.05, abs=1e-9)


def test_clopper_pearson_matches_the_published_table_value():
    # 5 of 20, 95 %: 0.0866 to 0.4910 (Clopper and Pearson's exact interval, as tabulated)
    low, high = clopper_pearson(5, 20, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.0866, 0.4910)


def test_parts_needed_for_a_target_with_no_event():
    assert needed_for_zero_events(0.001, 0.95) == 2995  # ln(0.05) / ln(0.999) = 2994.2
    assert needed_for_zero_events(0.05, 0.95) == 59
    assert most_events_allowed(58, 0.05, 0.95) == -1
    assert most_events_allowed(59, 0.05, 0.95) == 0


def test_rates_at_limits_count_escapes_below_low_and_rejects_at_high():
    good = [0.1, 0.2, 0.3, 0.6]
    bad = [0.4, 0.5, 0.7, 0.9]
    r = rates_at(good, bad, Limits(0.5, (0.45, 0.65)), 0.95)
    assert (r.escape.k, r.escape.n) == (1, 4)  # 0.4 < 0.45 passes
    assert (r.false_reject.k, r.false_reject.n) == (0, 4)  # nothing good at or above 0.65
    assert (r.review_good, r.review_defective) == (1, 1)  # 0.6 and 0.5 in the band
    plain = rates_at(good, bad, Limits(0.5, None), 0.95)
    assert (plain.escape.k, plain.false_reject.k) == (1, 1)


def test_roc_and_auc_by_hand():
    roc = roc_curve([0.1, 0.4], [0.3, 0.8])
    # cuts 0.8, 0.4, 0.3, 0.1: (0,.5) (.5,.5) (.5,1) (1,1); AUC = P(bad > good) = 3/4
    assert roc.fpr == (0.0, 0.0, 0.5, 0.5, 1.0)
    assert roc.tpr == (0.0, 0.5, 0.5, 1.0, 1.0)
    assert roc.auc == pytest.approx(0.75)


def test_escape_target_allows_the_escapes_the_bound_allows():
    # 100 reviewed defects, target 5 % at 95 %: P(X<=1 | 100, .05) = .0371 < .05, P(X<=2) = .1183 > .05,
    # so one escape is allowed and the pass limit is the second-lowest defective score.
    rng = np.random.default_rng(3)
    bad = rng.uniform(0.5, 1.0, 100)
    good = rng.uniform(0.0, 0.6, 200)
    stats = review_stats(good, bad, Limits(0.55, None), 0.95)
    assert binom_cdf(1, 100, 0.05) < 0.05 < binom_cdf(2, 100, 0.05)
    proposal = propose_threshold(stats, target_escape=0.05)
    second_lowest = float(np.sort(bad)[1])
    assert proposal.method is Method.ESCAPE
    assert proposal.limits.low == second_lowest == proposal.limits.threshold
    assert proposal.rates.escape.k == 1 and proposal.rates.escape.upper <= 0.05
    assert proposal.limits.high == pytest.approx(max(second_lowest, float(np.quantile(good, 0.99))))
    assert "WARNING" not in proposal.note  # 0.5 .. 0.6: a sixth of the good parts go to review


def test_a_proposal_that_sends_most_good_parts_to_review_says_so():
    good = np.linspace(0.0, 1.0, 100)
    bad = np.concatenate([[0.01], np.linspace(0.5, 1.0, 99)])  # one defect scored like the best good part
    # 3 % at 95 %: no escape allowed among 100 (the bound for one is 4.7 %), so the pass limit is 0.01
    proposal = propose_threshold(review_stats(good, bad, Limits(0.5, None)), target_escape=0.03)
    assert proposal.limits.low == 0.01 and proposal.rates.review_good == 98  # 0.0101 .. 0.9899
    assert "WARNING: 98 % of the good parts would go to review" in proposal.note


def test_false_reject_target_sits_just_above_the_allowed_good_score():
    # 300 good parts, 1 % at 95 %: zero false rejects needs 299 parts, one needs more than 300.
    good = np.linspace(0.0, 0.5, 300)
    bad = np.linspace(0.45, 1.0, 30)
    stats = review_stats(good, bad, Limits(0.5, None), 0.95)
    proposal = propose_threshold(stats, target_false_reject=0.01)
    assert proposal.limits.high == float(np.nextafter(0.5, 1.0))
    assert proposal.limits.low == 0.45  # no reviewed defect passes
    assert proposal.rates.false_reject.k == 0 and proposal.rates.escape.k == 0


def test_too_few_reviewed_defects_is_refused_with_the_number_needed():
    stats = review_stats(np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 20), Limits(0.5, None), 0.95)
    with pytest.raises(NotEnoughData, match="2,975 more reviewed defective parts") as info:
        propose_threshold(stats, target_escape=0.001)
    assert (info.value.needed, info.value.have) == (2975, 20)


def test_only_good_parts_reviewed_uses_the_named_fallback():
    good = np.random.default_rng(0).normal(0.3, 0.05, 40)
    stats = review_stats(good, (), Limits(0.5, None), 0.95)
    assert stats.roc is None
    proposal = propose_threshold(stats, target_escape=0.001)
    expected = calibrate_threshold(good, quantile=0.99, margin=1.0, band=1.0)
    assert proposal.fallback and "FALLBACK" in proposal.note and "2,995 reviewed defective" in proposal.note
    assert proposal.limits.threshold == pytest.approx(expected.threshold)
    with pytest.raises(NotEnoughData, match="at least 10 reviewed good parts"):
        propose_threshold(review_stats(good[:4], (), Limits(0.5, None)), target_escape=0.01)


def test_targets_are_checked():
    stats = review_stats([0.1] * 20, [0.9] * 5, Limits(0.5, None))
    with pytest.raises(ValueError, match="exactly one target"):
        propose_threshold(stats, target_escape=0.01, target_false_reject=0.01)
    with pytest.raises(ValueError, match="between 0 and 1"):
        propose_threshold(stats, target_escape=1.5)
