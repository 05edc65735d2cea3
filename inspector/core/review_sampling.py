"""Which parts go to review on their own, and why (decided once, when the part is stored).

Three reasons, checked in this order (a part gets the first that applies):

- ``uncertain``: the score lies in the recipe's uncertain band;
- ``near threshold``: the score is within ``near_threshold`` (a fraction of the limit's size) of a
  decision limit: the threshold, or either edge of the band. ``|score - limit| <= near * |limit|``;
- ``sample``: a passed part drawn for a spot check, at ``pass_sample_rate``. The draw is a hash of the
  recipe's ``seed`` and the part's content hash, so it is the same for the same part on every station
  and in every test, and uniform over parts (``sha256`` as a uniform 64-bit number).

Failed parts far from the threshold get no reason: the review queue lists failed parts anyway. These
samples are what keeps the reviewed labels honest: without passed parts in review, escapes are never
seen (see :mod:`inspector.core.review_stats`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from inspector.core.types import Verdict


class ReviewReason(StrEnum):
    UNCERTAIN = "uncertain"
    NEAR_THRESHOLD = "near threshold"
    SAMPLE = "sample"


#: What the review screen says for each reason.
REASON_TEXT = {
    ReviewReason.UNCERTAIN: "in the uncertain band",
    ReviewReason.NEAR_THRESHOLD: "score near the threshold",
    ReviewReason.SAMPLE: "random spot check of a passed part",
}


@dataclass(frozen=True)
class ReviewSampling:
    """A recipe's ``review`` settings."""

    near_threshold: float = 0.05  # fraction of the limit: 0.05 is within 5 % of the threshold
    pass_sample_rate: float = 0.01  # share of passed parts drawn for review
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.near_threshold) and 0.0 <= self.near_threshold <= 1.0):
            raise ValueError(f"review.near_threshold must be between 0 and 1 (got {self.near_threshold!r}).")
        if not (math.isfinite(self.pass_sample_rate) and 0.0 <= self.pass_sample_rate <= 1.0):
            raise ValueError(f"review.pass_sample_rate must be between 0 and 1 (got {self.pass_sample_rate!r}).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewSampling:
        return cls(**data)


def queued_text(reason: str | None) -> str:
    """What the review screen says about a part's reason ("—" when the station did not queue it)."""
    if not reason:
        return "—"
    try:
        return f"{reason}: {REASON_TEXT[ReviewReason(reason)]}"
    except ValueError:
        return reason


def sample_draw(seed: int, content_hash: str) -> float:
    """A number in [0, 1), uniform over parts, fixed by the seed and the part's content hash."""
    digest = hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def review_reason(
    score: float,
    verdict: Verdict,
    threshold: float,
    band: tuple[float, float] | None,
    content_hash: str,
    settings: ReviewSampling,
) -> ReviewReason | None:
    """Why this part goes to review (None: it does not), see the module docstring."""
    if verdict is Verdict.UNCERTAIN:
        return ReviewReason.UNCERTAIN
    limits = (threshold,) if band is None else (band[0], threshold, band[1])
    if any(abs(score - limit) <= settings.near_threshold * abs(limit) for limit in limits):
        return ReviewReason.NEAR_THRESHOLD
    if verdict is Verdict.PASS and sample_draw(settings.seed, content_hash) < settings.pass_sample_rate:
        return ReviewReason.SAMPLE
    return None
