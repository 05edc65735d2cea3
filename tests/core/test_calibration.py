import numpy as np
import pytest

from inspector.core.calibration import calibrate_threshold


def test_threshold_is_quantile_plus_margin_std():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    cal = calibrate_threshold(scores, quantile=1.0, margin=1.0, band=0.5)
    std = np.std(scores, ddof=1)  # 0.1581...
    assert cal.threshold == pytest.approx(0.5 + std)
    assert cal.uncertain_band == pytest.approx((0.5 + 0.5 * std, 0.5 + 1.5 * std))
    assert (cal.n_good, cal.good_min, cal.good_max, cal.good_median) == (5, 0.1, 0.5, 0.3)


def test_every_good_score_passes_and_band_contains_threshold():
    rng = np.random.default_rng(0)
    scores = rng.normal(0.2, 0.02, 200)
    cal = calibrate_threshold(scores)
    low, high = cal.uncertain_band
    assert low < cal.threshold < high
    assert (scores < cal.threshold).mean() >= 0.99


def test_no_band_when_requested_or_when_scores_are_identical():
    assert calibrate_threshold([0.1, 0.2, 0.3], band=0).uncertain_band is None
    cal = calibrate_threshold([0.2, 0.2, 0.2])
    assert cal.threshold == pytest.approx(0.2) and cal.uncertain_band is None


@pytest.mark.parametrize("bad", [[0.1], [], [0.1, float("nan")]])
def test_calibration_refuses_too_few_or_invalid_scores(bad):
    with pytest.raises(ValueError):
        calibrate_threshold(bad)
