"""Threshold calibration from known-good parts.

The threshold is set from the scores of good parts that the detector did not learn from:
held-out good images, or (for few-shot detectors) each reference scored by a detector fitted on
the other references (leave-one-out). With ``q`` the chosen quantile of those scores and ``s`` their
standard deviation::

    threshold      = q + margin * s
    uncertain band = [threshold - band * s, threshold + band * s]

so a good part scores below the threshold with high probability, and parts close to it go to the
review queue instead of being passed or failed outright.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    threshold: float
    uncertain_band: tuple[float, float] | None
    n_good: int
    good_min: float
    good_median: float
    good_max: float
    good_std: float
    quantile: float
    margin: float
    band: float
    method: str

    def as_dict(self) -> dict:
        data = asdict(self)
        data["uncertain_band"] = list(self.uncertain_band) if self.uncertain_band else None
        return data


def calibrate_threshold(
    good_scores, quantile: float = 0.99, margin: float = 1.0, band: float = 1.0, method: str = "held-out good images"
) -> Calibration:
    """Compute a threshold and uncertain band from good parts' scores.

    Args:
        good_scores: Scores of good parts not used for fitting (at least 2).
        quantile: Quantile of the good scores the threshold starts from.
        margin: Standard deviations added above that quantile.
        band: Half-width of the uncertain band, in standard deviations (0 disables the band).
        method: How the scores were obtained (kept in the recipe for the audit).

    Raises:
        ValueError: Fewer than two scores, or non-finite scores.
    """
    scores = np.asarray(list(good_scores), dtype=np.float64)
    if scores.size < 2:
        raise ValueError("Calibration needs the scores of at least two good parts.")
    if not np.all(np.isfinite(scores)):
        raise ValueError("Calibration scores must be finite numbers.")
    if not 0.0 < quantile <= 1.0:
        raise ValueError("quantile must be in (0, 1].")
    std = float(scores.std(ddof=1))
    base = float(np.quantile(scores, quantile))
    threshold = base + margin * std
    spread = std > 1e-9 * max(1.0, abs(base))  # identical scores give a float-rounding "std"
    uncertain = (threshold - band * std, threshold + band * std) if band > 0 and spread else None
    return Calibration(
        threshold=threshold,
        uncertain_band=uncertain,
        n_good=int(scores.size),
        good_min=float(scores.min()),
        good_median=float(np.median(scores)),
        good_max=float(scores.max()),
        good_std=std,
        quantile=quantile,
        margin=margin,
        band=band,
        method=method,
    )
