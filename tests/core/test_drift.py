"""The X-bar / S drift chart: limits by hand, the two Western Electric rules it uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.core.drift import ControlLimits, c4, drift_chart, reference_scores


def test_c4_and_limits_match_the_table_values():
    assert c4(5) == pytest.approx(0.9400, abs=1e-4)  # Montgomery, Appendix VI
    ref = [0.1, 0.2, 0.3, 0.4, 0.5]
    lim = ControlLimits.from_reference(ref, subgroup=5)
    sigma = float(np.std(ref, ddof=1))
    assert lim.mean == pytest.approx(0.3) and lim.sigma == pytest.approx(sigma)
    assert lim.xbar_high == pytest.approx(0.3 + 3 * sigma / math.sqrt(5))
    assert lim.s_high == pytest.approx(1.964 * sigma, abs=1e-3 * sigma)  # B6(5) = 1.964
    assert lim.s_low == 0.0  # B5(5) = 0
    assert ControlLimits.from_reference(ref, subgroup=10).s_low == pytest.approx(0.276 * sigma, abs=1e-3 * sigma)


def test_a_shift_of_the_mean_and_a_burst_of_spread_are_signalled():
    lim = ControlLimits.from_reference([0.1, 0.2, 0.3, 0.4, 0.5], subgroup=5)  # mean .3, sd .158
    steady = [0.3, 0.25, 0.35, 0.3, 0.3]
    shifted = [0.6, 0.55, 0.65, 0.6, 0.6]  # mean .6 > .3 + 3 x .158 / sqrt 5 = .512
    wild = [0.0, 0.9, 0.0, 0.9, 0.45]  # sd .45 > 1.964 x .158 = .311
    chart = drift_chart(steady * 3 + shifted + wild + [0.3, 0.3], lim)
    assert len(chart.means) == 5 and chart.last_part == (4, 9, 14, 19, 24)  # the last 2 parts wait
    assert [(a.subgroup, a.rule) for a in chart.alarms] == [
        (3, "mean above its upper control limit"),
        (4, "spread above its upper control limit"),
    ]
    assert drift_chart(steady * 4, lim).in_control
    assert [a.subgroup for a in chart.latest_alarms()] == [4]


def test_eight_means_in_a_row_on_one_side_is_a_run_signal():
    lim = ControlLimits.from_reference([0.1, 0.2, 0.3, 0.4, 0.5], subgroup=5)
    slightly_high = [0.35, 0.3, 0.4, 0.35, 0.35]  # mean .35: inside the limits
    chart = drift_chart(slightly_high * 8, lim)
    assert [(a.subgroup, a.rule) for a in chart.alarms] == [(7, "8 subgroup means in a row above the centre line")]
    assert drift_chart(slightly_high * 7, lim).in_control
    assert "1 signal(s) in 8 subgroups" in chart.summary()


def test_reference_scores_from_a_calibration_block():
    assert reference_scores({"good_scores": [0.1, 0.2, "x", float("nan")]}) == (0.1, 0.2)
    assert reference_scores({}) == ()
    with pytest.raises(ValueError, match="at least two"):
        ControlLimits.from_reference([0.1])
