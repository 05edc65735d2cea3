"""Peaks of a score timeline: prominence, separation in seconds, ends, plateaus (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.timeline import TimelinePoint, find_peaks, format_time


def series(scores, dt=0.5):
    return [TimelinePoint(time_s=i * dt, score=s, inspection_id=f"i{i}", frame_index=i) for i, s in enumerate(scores)]


def test_prominence_and_separation_pick_the_real_peaks():
    #          0    1    2    3    4    5    6    7    8    9
    scores = [0.1, 0.2, 0.9, 0.3, 0.35, 0.3, 0.2, 0.6, 0.1, 0.1]
    peaks = find_peaks(series(scores), min_prominence=0.1, min_separation_s=0.0)
    assert [p.frame_index for p in peaks] == [2, 7]  # 0.35 at 4 stands only 0.05 above its base
    assert peaks[0].prominence == pytest.approx(0.9 - 0.1)
    assert peaks[1].prominence == pytest.approx(0.6 - 0.2)  # the higher base: 0.2 on the left


def test_prominence_uses_the_higher_base():
    scores = [0.1, 0.2, 0.9, 0.3, 0.35, 0.3, 0.2, 0.6, 0.1, 0.1]
    peak7 = next(p for p in find_peaks(series(scores), min_prominence=0.0, min_separation_s=0.0) if p.frame_index == 7)
    assert peak7.prominence == pytest.approx(0.6 - 0.2)
    assert peak7.inspection_id == "i7" and peak7.time_s == pytest.approx(3.5)


def test_a_lower_peak_too_close_to_a_higher_one_is_dropped():
    scores = [0.0, 1.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.7, 0.0]
    times = series(scores, dt=0.25)  # peaks at 0.25 s, 0.75 s, 1.75 s
    assert [p.frame_index for p in find_peaks(times, min_separation_s=1.0, min_prominence=0.1)] == [1, 7]
    assert [p.frame_index for p in find_peaks(times, min_separation_s=0.4, min_prominence=0.1)] == [1, 3, 7]


def test_ends_and_plateaus_and_unsorted_irregular_times():
    assert [p.frame_index for p in find_peaks(series([0.9, 0.2, 0.1]), min_prominence=0.1)] == [0]
    assert [p.frame_index for p in find_peaks(series([0.1, 0.2, 0.9]), min_prominence=0.1)] == [2]
    plateau = find_peaks(series([0.1, 0.8, 0.8, 0.8, 0.1]), min_prominence=0.1)
    assert [p.frame_index for p in plateau] == [2]
    assert find_peaks(series([0.5, 0.5, 0.5]), min_prominence=0.0) == []
    points = [TimelinePoint(2.0, 0.1), TimelinePoint(0.0, 0.1), TimelinePoint(1.3, 0.9), TimelinePoint(np.nan, 5.0)]
    (peak,) = find_peaks(points, min_prominence=0.1)
    assert peak.time_s == pytest.approx(1.3) and peak.position == 1
    assert find_peaks([], min_prominence=0.1) == []
    with pytest.raises(ValueError):
        find_peaks(points, min_prominence=-1)


def test_format_time():
    assert format_time(0) == "0:00.0"
    assert format_time(75.25) == "1:15.2"
    assert format_time(3725.0) == "1:02:05.0"
