"""The report's "Station learning" part: what the operators' reviews and the score drift say.

Per recipe version in the report: the reviewed parts' ROC, the escape and false-reject rates at its
threshold with Clopper-Pearson intervals (:mod:`inspector.core.review_stats`), and the X-bar / S drift
chart (:mod:`inspector.core.drift`) of the scores of the parts the model did not fail outright (passed
or uncertain) against its calibration good scores: the calibration set is good parts, so these are the
population to compare (with failed parts, every rise of the fail rate would signal as drift; without
the uncertain ones, good parts drifting into the band would drop out of the chart).

Format-neutral: :func:`learning_blocks` gives titled :class:`Block` objects (text lines, tables and
PNG charts) that the HTML and PDF writers render the same way. Golden-part checks (#16 point 3) and
caption versions (#16 point 4) belong here as further blocks: add a producer to ``BLOCK_MAKERS``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from inspector.core.drift import DEFAULT_SUBGROUP, ControlLimits, drift_chart, reference_scores
from inspector.core.review_stats import Limits, review_stats
from inspector.reports.caption_versions import caption_blocks, caption_version_lines
from inspector.reports.model import LearningData, VersionLearning
from inspector.store import InspectionRecord, InspectionStore, OverrideRecord, Verdict
from inspector.store.labels import standing_verdict

CONFIDENCE = 0.95
MAX_VERSIONS = 6  # recipe versions charted (those with the most parts)


@dataclass
class LearningCollector:
    """Fed with every inspection of the report (in one pass with the other figures)."""

    scores: dict[str, list[tuple[float, str, float]]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    parts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, r: InspectionRecord, trail: Sequence[OverrideRecord]) -> None:
        self.parts[r.recipe_version_id] += 1
        if r.model_verdict is not Verdict.FAIL:  # the drift chart watches the parts not failed outright
            self.scores[r.recipe_version_id].append((r.inspected_at.timestamp(), r.id, float(r.score)))
        decision = standing_verdict(trail) if trail else None
        if decision in (Verdict.PASS, Verdict.FAIL):
            self.labels[r.recipe_version_id].append((float(r.score), decision is Verdict.FAIL))


def gather_learning(store: InspectionStore, c: LearningCollector, *, charts: bool = True) -> LearningData:
    busiest = sorted(c.parts, key=lambda v: -c.parts[v])[:MAX_VERSIONS]
    out = []
    for version_id in busiest:
        record = store.get_recipe_version(version_id)
        body = dict(record.body)
        threshold = float(body.get("threshold", 0.5))
        band = body.get("uncertain_band")
        limits = Limits(threshold, (float(band[0]), float(band[1])) if band else None)
        labels = c.labels.get(version_id, [])
        review = None
        if labels:
            good = [s for s, bad in labels if not bad]
            bad = [s for s, bad in labels if bad]
            review = review_stats(good, bad, limits, CONFIDENCE)
        scores = [s for _t, _id, s in sorted(c.scores.get(version_id, []))]
        ref = reference_scores(body.get("calibration") or {})
        drift, note = None, ""
        if len(ref) < 2:
            note = "No drift chart: the recipe version keeps no calibration good scores (calibrate it)."
        else:
            drift = drift_chart(scores, ControlLimits.from_reference(ref, DEFAULT_SUBGROUP))
            note = drift.summary()
        item = VersionLearning(
            version_id,
            record.recipe_name,
            record.version,
            c.parts[version_id],
            review,
            drift,
            note,
            captioner=caption_version_lines(body),
        )
        if charts:
            from inspector.reports.learning_charts import drift_png, roc_png

            item = replace(
                item,
                roc_png=roc_png(review, limits) if review is not None and review.roc is not None else None,
                drift_png=drift_png(drift) if drift is not None and drift.means else None,
            )
        out.append(item)
    return LearningData(tuple(out))


# -- format-neutral blocks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    title: str
    lines: tuple[str, ...] = ()
    images: tuple[tuple[str, bytes, str], ...] = ()  # (name, png, alt text)


def _rate_line(what: str, rate) -> str:
    if not rate.n:
        return f"{what}: no reviewed parts of that kind."
    return f"{what}: {rate.describe()}; one-sided {100 * rate.confidence:.0f} % upper bound {100 * rate.upper:.2f} %."


def review_blocks(learning: LearningData) -> list[Block]:
    blocks = []
    for v in learning.versions:
        title = f"Reviewed parts - {v.name} v{v.version}"
        if v.review is None:
            blocks.append(Block(title, ("No part of this recipe version in the report was reviewed.",)))
            continue
        r = v.review
        lines = [
            f"{len(r.good)} reviewed good and {len(r.defective)} reviewed defective parts (an operator's standing "
            "PASS or FAIL decision; parts nobody reviewed are not counted).",
            f"At the threshold {r.current.limits.threshold:.4g}"
            + (
                f" (uncertain band {r.current.limits.band[0]:.4g} to {r.current.limits.band[1]:.4g})"
                if r.current.limits.band
                else ""
            )
            + ":",
            _rate_line("Escape rate (defective parts passed)", r.current.escape),
            _rate_line("False-reject rate (good parts failed)", r.current.false_reject),
        ]
        if r.roc is not None:
            lines.append(f"ROC AUC of the reviewed parts: {r.roc.auc:.4f}.")
        images = ((f"roc-{v.version}", v.roc_png, "ROC of the reviewed parts"),) if v.roc_png else ()
        blocks.append(Block(title, tuple(lines), images))
    return blocks


def drift_blocks(learning: LearningData) -> list[Block]:
    blocks = []
    for v in learning.versions:
        images = ((f"drift-{v.version}", v.drift_png, "X-bar and S drift chart"),) if v.drift_png else ()
        lines = [
            v.drift_note,
            "Charted: the scores of the parts the model passed or found uncertain, in inspection order (failed "
            "parts would move the chart with the fail rate rather than with a drift of the good parts).",
        ]
        if v.drift is not None and v.drift.alarms:
            shown = v.drift.alarms[:5]
            lines += [f"Subgroup {a.subgroup + 1}: {a.rule}." for a in shown]
            if len(v.drift.alarms) > len(shown):
                lines.append(f"... and {len(v.drift.alarms) - len(shown)} more signals.")
        blocks.append(Block(f"Score drift - {v.name} v{v.version}", tuple(lines), images))
    return blocks


#: Producers of the "Station learning" blocks, in report order. Golden-part checks and caption
#: versions add theirs here.
BLOCK_MAKERS: list[Callable[[LearningData], list[Block]]] = [review_blocks, drift_blocks, caption_blocks]


def learning_blocks(learning: LearningData | None) -> list[Block]:
    if learning is None or not learning.versions:
        return []
    return [b for make in BLOCK_MAKERS for b in make(learning)]
