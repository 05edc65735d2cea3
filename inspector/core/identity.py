"""Part identity: is the part in front of the camera the product the recipe expects?

An anomaly detector answers "is this part defective?"; it is not built for the costly case of the
wrong product on the line (changeover not done, mixed bins): a different part may score as "very
anomalous" at best, or as PASS when it looks alike. The identity check answers it separately, with
two signals (either may be absent):

* **text** — CLIP zero-shot: the image's probability of being the recipe's object against the
  other recipes' objects and a few generic alternatives (softmax over the prompt-ensemble
  prototypes at CLIP's logit scale). Uses the CLIP image embedding WinCLIP already computed when the
  recipe's detector is WinCLIP (no second forward); for other detectors it costs one CLIP forward
  and is off unless asked for (``text_check: on``).
* **references** — image-image: the highest cosine similarity of the image's embedding to the
  good-part library's embeddings (the detector's own image embedding: WinCLIP's CLIP embedding,
  AnomalyDINO's DINOv2 class token: no extra forward).

A part is ``WRONG PART`` when a signal falls below its calibrated threshold. Thresholds come from
known-good parts (:func:`calibrate_identity`): a fraction of the lowest good text probability, and
the lowest leave-one-out reference similarity less a margin. The anomaly verdict is still computed
and stored beside it; the identity verdict is shown, counted and filtered on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

TEXT_CHECK_MODES = ("auto", "on", "off")
GENERIC_ALTERNATIVES: tuple[str, ...] = (
    "an empty conveyor belt",
    "a blank background",
    "a human hand",
    "a tool",
    "a cardboard box",
    "a different machine part",
)
TEXT_MARGIN = 0.5  # a part fails the text check below half the lowest good part's probability
REFERENCE_MARGIN = 0.05  # cosine similarity below the lowest leave-one-out good similarity


@dataclass(frozen=True)
class IdentitySettings:
    """A recipe's part-identity check (the ``identity`` block of the recipe file).

    Attributes:
        enabled: Check identity at all (default on).
        text_check: ``auto`` (on where the recipe's detector is CLIP-based and shares its embedding),
            ``on`` (also for other detectors, at the cost of one CLIP forward per part), ``off``.
        alternatives: Other things the camera may see instead of this part (object names).
        other_recipes: Add the station's other recipes' object names to the alternatives.
        text_threshold: Lowest probability of being the expected part (None: not calibrated yet).
        reference_threshold: Lowest similarity to the good-part library (None: not calibrated yet).
    """

    enabled: bool = True
    text_check: str = "auto"
    alternatives: tuple[str, ...] = ()
    other_recipes: bool = True
    text_threshold: float | None = None
    reference_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.text_check not in TEXT_CHECK_MODES:
            raise ValueError(
                f"identity.text_check must be one of {', '.join(TEXT_CHECK_MODES)}, not {self.text_check!r}"
            )
        for name in ("text_threshold", "reference_threshold"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"identity.{name} must be a finite number, not {value!r}")

    @property
    def calibrated(self) -> bool:
        return self.text_threshold is not None or self.reference_threshold is not None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["alternatives"] = list(self.alternatives)
        return body

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IdentitySettings:
        data = dict(data or {})
        if "alternatives" in data:
            data["alternatives"] = tuple(str(a) for a in data["alternatives"])
        return cls(**data)


@dataclass(frozen=True)
class IdentityResult:
    """The identity check of one part.

    Attributes:
        wrong_part: True when a signal fell below its threshold.
        text_probability: Probability of being the expected part (None: no text check).
        best_alternative: The most likely other thing, when the text check ran.
        reference_similarity: Highest similarity to the good-part library (None: no references).
        reason: Why it is the wrong part, in words (empty when it is not).
    """

    wrong_part: bool
    text_probability: float | None = None
    best_alternative: str | None = None
    reference_similarity: float | None = None
    reason: str = ""

    @property
    def score(self) -> float | None:
        """One number for tables: the lower of the two signals (higher is more like the expected part)."""
        values = [v for v in (self.text_probability, self.reference_similarity) if v is not None]
        return min(values) if values else None


def alternatives_for(
    object_name: str, settings: IdentitySettings, other_objects: Sequence[str] = ()
) -> tuple[str, ...]:
    """The alternatives the expected object is compared with: the recipe's, other recipes', generic ones."""
    own = " ".join(object_name.lower().split())
    seen: set[str] = {own}
    out: list[str] = []
    pool = [*settings.alternatives, *(other_objects if settings.other_recipes else ()), *GENERIC_ALTERNATIVES]
    for name in pool:
        key = " ".join(str(name).lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(" ".join(str(name).split()))
    return tuple(out)


def decide_identity(
    settings: IdentitySettings,
    *,
    text_probability: float | None,
    best_alternative: str | None,
    reference_similarity: float | None,
    object_name: str,
) -> IdentityResult:
    """The identity verdict from the two signals and the calibrated thresholds (uncalibrated: never wrong)."""
    reasons = []
    if (
        text_probability is not None
        and settings.text_threshold is not None
        and text_probability < settings.text_threshold
    ):
        reasons.append(
            f"looks more like {best_alternative or 'something else'} than a {object_name} "
            f"(p = {text_probability:.2f} < {settings.text_threshold:.2f})"
        )
    if (
        reference_similarity is not None
        and settings.reference_threshold is not None
        and reference_similarity < settings.reference_threshold
    ):
        reasons.append(
            f"unlike the good parts (similarity {reference_similarity:.2f} < {settings.reference_threshold:.2f})"
        )
    return IdentityResult(
        wrong_part=bool(reasons),
        text_probability=text_probability,
        best_alternative=best_alternative,
        reference_similarity=reference_similarity,
        reason="; ".join(reasons),
    )


@dataclass(frozen=True)
class IdentityCalibration:
    """Thresholds from known-good parts, and what they came from."""

    text_threshold: float | None
    reference_threshold: float | None
    n_good: int
    lowest_text_probability: float | None = None
    lowest_reference_similarity: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def calibrate_identity(
    text_probabilities: Sequence[float], reference_similarities: Sequence[float]
) -> IdentityCalibration:
    """Thresholds from good parts' signals (reference similarities must be leave-one-out, never self-matches).

    ``text threshold = TEXT_MARGIN x lowest good probability``; ``reference threshold = lowest good
    similarity - REFERENCE_MARGIN``. No good values for a signal leave its threshold unset.
    """
    text = [float(v) for v in text_probabilities if math.isfinite(v)]
    refs = [float(v) for v in reference_similarities if math.isfinite(v)]
    notes = []
    if not refs:
        notes.append("no reference similarity (fewer than 2 good parts with embeddings): image check uncalibrated")
    if not text:
        notes.append("no text probabilities: text check uncalibrated")
    return IdentityCalibration(
        text_threshold=TEXT_MARGIN * min(text) if text else None,
        reference_threshold=min(refs) - REFERENCE_MARGIN if refs else None,
        n_good=max(len(text), len(refs)),
        lowest_text_probability=min(text) if text else None,
        lowest_reference_similarity=min(refs) if refs else None,
        notes=tuple(notes),
    )


def with_calibration(settings: IdentitySettings, calibration: IdentityCalibration) -> IdentitySettings:
    return replace(
        settings, text_threshold=calibration.text_threshold, reference_threshold=calibration.reference_threshold
    )
