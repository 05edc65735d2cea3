"""The gate a trained recipe version passes before it is used (inspector.core.training_gate)."""

from __future__ import annotations

import pytest

from inspector.core.metrics import NAN, EvalMetrics
from inspector.core.training_gate import GateResult, training_gate


def m(image_auroc: float) -> EvalMetrics:
    return EvalMetrics(image_auroc, 0.9, 0.8, 0.7)


def test_a_trained_version_passes_when_not_worse_than_the_current_detector():
    assert training_gate(m(0.80), m(0.85)).passed
    assert training_gate(m(0.80), m(0.80)).passed  # equal is not worse
    worse = training_gate(m(0.80), m(0.79))
    assert not worse.passed and "79.0 after training is lower than 80.0 before" in worse.reasons[0]


def test_the_tolerance_allows_a_stated_loss():
    assert training_gate(m(0.80), m(0.78), tolerance=0.02).passed
    assert not training_gate(m(0.80), m(0.77), tolerance=0.02).passed
    with pytest.raises(ValueError):
        training_gate(m(0.8), m(0.8), tolerance=1.0)


def test_unmeasured_versions_do_not_pass():
    assert "not measured" in training_gate(m(0.8), None).reasons[0]
    assert not training_gate(m(0.8), None).passed
    assert not training_gate(None, m(0.9)).passed  # nothing shows it is better
    assert not training_gate(m(0.8), m(NAN)).passed
    assert not training_gate(m(NAN), m(0.9)).passed


def test_random_weights_are_named_and_the_result_round_trips():
    gate = training_gate(m(0.5), m(0.6), random_weights=True)
    assert gate.passed and any("RANDOM WEIGHTS" in r for r in gate.reasons)
    assert GateResult.from_dict(gate.as_dict()) == gate
    assert GateResult.from_dict(None) is None
