"""Operators' decisions as labels: the reviewed parts of some recipe versions, with their scores.

A part is labelled when an operator's decision on it still stands: its audit trail holds an override
that no later UNDO row took back, and the verdict it leaves is PASS (a good part) or FAIL (a
defective part). A part whose every decision was undone, or that an operator left UNCERTAIN, is no
label. Parts nobody reviewed are no labels either: their verdict is the model's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from inspector.store.domain import InspectionFilter, OverrideKind, Verdict
from inspector.store.models import Inspection, Override
from inspector.store.queries import chunks, conditions
from inspector.store.repository import InspectionStore


def standing_verdict(trail: Sequence[Any]) -> Verdict | None:
    """The verdict an operator's decision still sets (None: no decision stands, every one was undone).

    ``trail``: a part's audit rows oldest first (:class:`~inspector.store.OverrideRecord` or rows
    with its ``id``, ``kind``, ``undoes_id`` and ``new_verdict``).
    """
    active: list[str] = []
    for row in trail:
        if OverrideKind(row.kind) is OverrideKind.OVERRIDE:
            active.append(row.id)
        else:
            active = [a for a in active if a != row.undoes_id]
    return Verdict(trail[-1].new_verdict) if active else None


@dataclass(frozen=True)
class ReviewedLabel:
    inspection_id: str
    recipe_version_id: str
    score: float
    defective: bool  # the operator's standing decision: FAIL (True) or PASS (False)
    model_verdict: Verdict
    model_fingerprint: str
    inspected_at: datetime


def reviewed_labels(store: InspectionStore, recipe_version_ids: Iterable[str]) -> list[ReviewedLabel]:
    """The labelled parts of these recipe versions, oldest first (see the module docstring)."""
    ids = sorted(set(recipe_version_ids))
    trails: dict[str, list[Any]] = defaultdict(list)
    parts: dict[str, Any] = {}
    with store.db.read() as conn:
        for chunk in chunks(ids):
            rows = conn.execute(
                select(
                    Override.inspection_id,
                    Override.seq,
                    Override.id,
                    Override.kind,
                    Override.undoes_id,
                    Override.new_verdict,
                )  # fmt: skip
                .join(Inspection, Inspection.id == Override.inspection_id)
                .where(Inspection.recipe_version_id.in_(chunk))
                .order_by(Override.inspection_id, Override.seq)
            )
            for r in rows:
                trails[r.inspection_id].append(r)
        wanted = sorted(trails)
        for chunk in chunks(wanted):
            for part in conn.execute(
                select(
                    Inspection.id,
                    Inspection.recipe_version_id,
                    Inspection.score,
                    Inspection.verdict,
                    Inspection.model_fingerprint,
                    Inspection.inspected_at,
                ).where(Inspection.id.in_(chunk))  # fmt: skip
            ):
                parts[part.id] = part
    labels: list[ReviewedLabel] = []
    for inspection_id, trail in trails.items():
        verdict = standing_verdict(trail)
        if verdict is None or verdict is Verdict.UNCERTAIN:
            continue
        p = parts[inspection_id]
        labels.append(
            ReviewedLabel(
                inspection_id,
                p.recipe_version_id,
                float(p.score),
                verdict is Verdict.FAIL,
                Verdict(p.verdict),
                p.model_fingerprint or "",
                p.inspected_at,
            )  # fmt: skip
        )
    labels.sort(key=lambda x: (x.inspected_at, x.inspection_id))
    return labels


def waiting_for_review(store: InspectionStore, recipe_name: str | None = None) -> dict[str, int]:
    """Parts queued for review on their own and not reviewed yet, counted by reason."""
    where = InspectionFilter(recipe_name=recipe_name, to_review=True)
    stmt = select(Inspection.review_reason, func.count()).where(*conditions(where)).group_by(Inspection.review_reason)
    with store.db.read() as conn:
        return {str(reason): int(n) for reason, n in conn.execute(stmt)}
