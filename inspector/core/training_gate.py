"""Whether a trained recipe version may be used: its held-out metrics against the current detector's.

``inspector train`` measures the recipe's current detector ("before") and the trained one ("after")
on the same held-out good parts plus synthetic defects made from them. A trained version passes
when it was measured at all and its image AUROC is not lower than the current detector's by more
than ``tolerance``: the image AUROC is the figure the verdicts depend on (the pixel figures are
shown, not gated). When the current detector could not be measured, nothing shows the trained one
is better, so the version does not pass. The result is recorded in the recipe's training record and
shown by ``inspector train`` and the Train panel, which offers "Use this version" only when it passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inspector.core.metrics import EvalMetrics

#: How much lower (absolute, 0..1) the trained detector's held-out image AUROC may be.
DEFAULT_TOLERANCE = 0.0


@dataclass(frozen=True)
class GateResult:
    """The decision and, one line each, why."""

    passed: bool
    reasons: tuple[str, ...]
    tolerance: float = DEFAULT_TOLERANCE

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons), "tolerance": self.tolerance}

    @classmethod
    def from_dict(cls, data: dict | None) -> GateResult | None:
        if not data:
            return None
        return cls(bool(data.get("passed")), tuple(data.get("reasons", ())), float(data.get("tolerance", 0.0)))


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.1f}"


def training_gate(
    before: EvalMetrics | None,
    after: EvalMetrics | None,
    *,
    random_weights: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GateResult:
    """The gate a trained version passes before it is used (see the module docstring)."""
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    reasons: list[str] = []
    if random_weights:
        reasons.append("RANDOM WEIGHTS: the metrics say nothing about real parts")
    if after is None or math.isnan(after.image_auroc):
        reasons.insert(0, "not measured: fewer than 2 held-out parts (review more good parts, or raise --holdout)")
        return GateResult(False, tuple(reasons), tolerance)
    if before is None or math.isnan(before.image_auroc):
        reasons.insert(
            0,
            "the current detector was not measured (--no-before, or it failed): nothing shows the new one is better",
        )
        return GateResult(False, tuple(reasons), tolerance)
    delta = after.image_auroc - before.image_auroc
    passed = delta >= -tolerance - 1e-12
    verb = "not lower than" if passed else "lower than"
    allowed = f" (tolerance {_pct(tolerance)})" if tolerance else ""
    reasons.insert(
        0,
        f"held-out I-AUROC {_pct(after.image_auroc)} after training is {verb} {_pct(before.image_auroc)} "
        f"before{allowed}",
    )
    return GateResult(passed, tuple(reasons), tolerance)
