"""Recalibration from reviewed parts: gather the labels from the store, propose, apply.

Which parts count: the reviewed parts (see :mod:`inspector.store.labels`) of every stored version of
the recipe that scores parts the same way as the recipe given (same body apart from the fields that
do not change a score: threshold, band, calibration, review sampling, golden parts, identity check),
scored with one set of weights (the recipe's calibration fingerprint when labels exist for it, else
the most common one). Scores from other weights are not comparable and are left out (and counted).

:func:`apply_recalibration` is the one step that changes anything: it writes the recipe file and the
new recipe version. Callers that require an engineer's signature gate that one function.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inspector.core.recipe import Recipe, save_recipe
from inspector.core.review_stats import (
    Limits,
    NotEnoughData,
    Proposal,
    Rate,
    ReviewStats,
    propose_threshold,
    review_stats,
)
from inspector.errors import RecipeError
from inspector.store import InspectionStore, RecipeVersionRecord
from inspector.store.changes import Signer
from inspector.store.labels import ReviewedLabel, reviewed_labels

#: Recipe fields that do not change how a part is scored.
SCORE_NEUTRAL_FIELDS = ("threshold", "uncertain_band", "calibration", "review", "golden_policy", "identity")


def scoring_key(body: Mapping[str, Any]) -> str:
    """A digest of the recipe body without :data:`SCORE_NEUTRAL_FIELDS`."""
    kept = {k: v for k, v in body.items() if k not in SCORE_NEUTRAL_FIELDS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class ReviewSet:
    """The labelled scores behind a recalibration, and where they came from."""

    recipe_name: str
    versions: tuple[int, ...]  # recipe versions the labels were scored under
    version_ids: tuple[str, ...]
    fingerprint: str  # the weights that scored them
    labels: tuple[ReviewedLabel, ...]
    other_weights: int  # labelled parts left out: scored with other weights

    @property
    def good(self) -> tuple[float, ...]:
        return tuple(x.score for x in self.labels if not x.defective)

    @property
    def defective(self) -> tuple[float, ...]:
        return tuple(x.score for x in self.labels if x.defective)


@dataclass(frozen=True)
class Recalibration:
    """The statistics at the recipe's current limits and the proposal (or why there is none)."""

    recipe: Recipe
    reviews: ReviewSet
    stats: ReviewStats
    target_escape: float | None
    target_false_reject: float | None
    proposal: Proposal | None
    refusal: str | None  # why nothing is proposed (too few reviewed parts for the target)
    needed: int = 0  # how many more reviewed parts of ``needed_kind`` the target needs
    needed_kind: str = ""


def gather_reviews(store: InspectionStore, recipe: Recipe) -> ReviewSet:
    """The labelled parts for ``recipe`` (see the module docstring)."""
    key = scoring_key(recipe.to_dict())
    versions = [v for v in store.recipe_versions(recipe.name) if scoring_key(v.body) == key]
    labels = reviewed_labels(store, [v.id for v in versions])
    wanted = str(recipe.calibration.get("model_fingerprint") or "")
    counts = Counter(x.model_fingerprint for x in labels)
    fingerprint = wanted if wanted in counts else (counts.most_common(1)[0][0] if counts else wanted)
    kept = tuple(x for x in labels if x.model_fingerprint == fingerprint)
    used = {x.recipe_version_id for x in kept}
    chosen = [v for v in versions if v.id in used]
    return ReviewSet(
        recipe.name,
        tuple(v.version for v in chosen),
        tuple(v.id for v in chosen),
        fingerprint,
        kept,
        len(labels) - len(kept),
    )


def recalibrate_from_reviews(
    store: InspectionStore,
    recipe: Recipe,
    *,
    target_escape: float | None = None,
    target_false_reject: float | None = None,
    confidence: float = 0.95,
) -> Recalibration:
    """Statistics and a proposal for one target (default: escape rate 0.1 %). Writes nothing."""
    if target_escape is None and target_false_reject is None:
        target_escape = 0.001
    reviews = gather_reviews(store, recipe)
    current = Limits(recipe.threshold, recipe.uncertain_band)
    stats = review_stats(reviews.good, reviews.defective, current, confidence)
    try:
        proposal = propose_threshold(stats, target_escape=target_escape, target_false_reject=target_false_reject)
    except NotEnoughData as why:
        return Recalibration(
            recipe, reviews, stats, target_escape, target_false_reject, None, str(why), why.needed, why.kind
        )
    return Recalibration(recipe, reviews, stats, target_escape, target_false_reject, proposal, None)


def _rate(rate: Rate) -> dict[str, Any]:
    return {"k": rate.k, "n": rate.n, "low": rate.low, "high": rate.high, "upper": rate.upper}


def calibration_block(rec: Recalibration) -> dict[str, Any]:
    """The recipe's new ``calibration``: the earlier calibration's record (its good scores stay the
    drift chart's reference) plus the method, counts and intervals of this recalibration."""
    if rec.proposal is None:
        raise RecipeError(rec.refusal or "Nothing to apply.")
    p, r = rec.proposal, rec.reviews
    block = dict(rec.recipe.calibration)
    block.update(
        threshold=p.limits.threshold,
        uncertain_band=list(p.limits.band) if p.limits.band else None,
        method=f"reviewed parts: {p.method.value}",
        model_fingerprint=r.fingerprint or block.get("model_fingerprint", ""),
        random_weights=r.fingerprint.startswith("random:") or bool(block.get("random_weights", False)),
        from_reviews={
            "method": p.method.value,
            "fallback": p.fallback,
            "target": p.target,
            "target_kind": "escape" if rec.target_escape is not None else "false_reject",
            "confidence": p.confidence,
            "n_good": len(r.good),
            "n_defective": len(r.defective),
            "recipe_versions": list(r.versions),
            "left_out_other_weights": r.other_weights,
            "escape": _rate(p.rates.escape),
            "false_reject": _rate(p.rates.false_reject),
            "previous": {"threshold": rec.recipe.threshold, "uncertain_band": rec.recipe.uncertain_band},
            "note": p.note,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    if block.get("uncertain_band") is not None:
        block["uncertain_band"] = [float(x) for x in block["uncertain_band"]]
    return block


def apply_recalibration(
    store: InspectionStore, rec: Recalibration, path: str | os.PathLike[str] | None = None, signer: Signer | None = None
) -> tuple[Recipe, RecipeVersionRecord]:
    """Write the proposal as a new recipe version signed by ``signer`` (the file at ``path`` too, when given).

    The signature rule is :func:`inspector.store.changes.record_recipe_change`: the file is written
    only once the signed version is stored.

    Raises:
        RecipeError: there is no proposal (its refusal is the message).
        SignatureRequired / LoginError / PermissionDenied: the change was not signed as the station requires.
    """
    from inspector.store.changes import record_recipe_change

    block = calibration_block(rec)
    assert rec.proposal is not None
    limits = rec.proposal.limits
    recipe = rec.recipe.with_threshold(limits.threshold, limits.band, block)
    change = record_recipe_change(store, recipe.name, recipe.to_dict(), signer, action="threshold")
    if path is not None:
        save_recipe(recipe, path)
    return recipe, change.version


def describe(rec: Recalibration) -> list[str]:
    """The figures in plain lines (the CLI's output; the Recipes panel shows the same)."""
    r, s = rec.reviews, rec.stats
    c = f"{100 * s.confidence:.0f} %"
    versions = ", ".join(f"v{v}" for v in r.versions) or "none"
    lines = [
        f"Recipe '{r.recipe_name}': {len(r.good)} reviewed good and {len(r.defective)} reviewed defective parts "
        f"(recipe versions {versions}).",
    ]
    if r.other_weights:
        lines.append(f"Left out: {r.other_weights} reviewed parts scored with other weights.")
    if s.roc is not None:
        lines.append(f"ROC AUC of the reviewed parts: {s.roc.auc:.4f}.")
    cur = s.current
    lines.append(f"At the current threshold {_limits(cur.limits)}:")
    lines.append(f"  escape rate        {cur.escape.describe()}; {c} upper bound {_upper(cur.escape)}")
    lines.append(f"  false-reject rate  {cur.false_reject.describe()}; {c} upper bound {_upper(cur.false_reject)}")
    p = rec.proposal
    if p is None:
        lines.append(f"No proposal: {rec.refusal}")
        return lines
    lines.append(f"Proposed ({p.method.value}): {_limits(p.limits)}")
    lines.append(f"  escape rate        {p.rates.escape.describe()}; {c} upper bound {_upper(p.rates.escape)}")
    lines.append(
        f"  false-reject rate  {p.rates.false_reject.describe()}; {c} upper bound {_upper(p.rates.false_reject)}"
    )
    lines.append(f"  {p.note}")
    return lines


def _upper(rate: Rate) -> str:
    return f"{100 * rate.upper:.2f} %" if rate.n else "-"


def _limits(limits: Limits) -> str:
    band = f", uncertain band {limits.band[0]:.4f} .. {limits.band[1]:.4f}" if limits.band else ", no uncertain band"
    return f"{limits.threshold:.4f}{band}"
