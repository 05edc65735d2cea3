"""The Images/s counter (#13: it read 0.0 while parts arrived every few seconds, then jumped)."""

from __future__ import annotations

import pytest

from inspector.core.rate import RateMeter


def test_a_slow_steady_line_reads_its_rate_from_the_second_part():
    meter = RateMeter()
    assert meter.rate(0.0) is None
    meter.add(0.0)
    assert meter.rate(1.0) is None  # one part: no rate yet (not 0.0)
    for i in range(1, 6):  # a part every 3 s (a slow CPU model)
        meter.add(3.0 * i)
        assert meter.rate(3.0 * i + 2.9) == pytest.approx(1 / 3)  # between parts too


def test_an_idle_line_decays_and_a_burst_does_not_jump():
    meter = RateMeter(span=5)
    for i in range(5):
        meter.add(float(i))  # 1 part per second
    assert meter.rate(4.5) == pytest.approx(1.0)
    assert meter.rate(30.0) == pytest.approx(4 / 30)  # idle for 26 s: falls, not stuck at 1.0
    for i in range(5):
        meter.add(100.0 + 0.5 * i)  # 2 parts per second
    assert meter.rate(102.2) == pytest.approx(2.0)


def test_parts_arriving_in_one_batch_are_counted_from_the_start_of_scoring():
    meter = RateMeter()
    meter.start(10.0)  # the model is ready
    for at in (14.0, 14.001, 14.002, 14.003):  # a batch of 4 scored in 4 s
        meter.add(at)
    assert meter.rate(14.5) == pytest.approx(1.0, rel=0.01)  # not 1000 / s
    meter.clear()
    assert meter.rate(20.0) is None
