"""Read-side building blocks: filters as SQL conditions, the derived verdict, rows to records.

Kept apart from the repository so that the one place defining "effective verdict" is easy to find:
the newest audit row's verdict, or the model's when there is none. SQLAlchemy constructs only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, exists, func, or_, select

from inspector.store.domain import (
    CaptionCorrectionRecord,
    CaptionStatus,
    InspectionFilter,
    InspectionRecord,
    Order,
    OverrideKind,
    OverrideRecord,
    RecipeVersionRecord,
    RunRecord,
    Verdict,
    VerdictCounts,
)
from inspector.store.models import CaptionCorrection, Inspection, Operator, Override, Recipe, RecipeVersion, Run

CHUNK = 400  # bound parameters per IN (...) list

ORDER: dict[Order, tuple[ColumnElement[Any], ...]] = {
    Order.NEWEST: (Inspection.inspected_at.desc(), Inspection.id.desc()),
    Order.OLDEST: (Inspection.inspected_at.asc(), Inspection.id.asc()),
    Order.SCORE_DESC: (Inspection.score.desc(), Inspection.id.desc()),
    Order.SCORE_ASC: (Inspection.score.asc(), Inspection.id.asc()),
}


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_trail(conn: Connection, inspection_id: str) -> list[OverrideRecord]:
    """One part's audit trail, oldest first."""
    rows = conn.execute(
        select(Override.__table__, Operator.name.label("operator_name"))
        .join(Operator, Operator.id == Override.operator_id)
        .where(Override.inspection_id == inspection_id)
        .order_by(Override.seq)
    )
    return [
        OverrideRecord(
            id=r.id,
            inspection_id=r.inspection_id,
            seq=r.seq,
            kind=OverrideKind(r.kind),
            operator=r.operator_name,
            created_at=r.created_at,
            previous_verdict=Verdict(r.previous_verdict),
            new_verdict=Verdict(r.new_verdict),
            previous_defect_label=r.previous_defect_label,
            defect_label=r.defect_label,
            note=r.note,
            undoes_id=r.undoes_id,
        )
        for r in rows
    ]


def load_corrections(conn: Connection, inspection_ids: Sequence[str]) -> list[CaptionCorrectionRecord]:
    """The caption corrections of some parts, by part then oldest first."""
    out: list[CaptionCorrectionRecord] = []
    for chunk in chunks(list(inspection_ids)):
        rows = conn.execute(
            select(CaptionCorrection.__table__, Operator.name.label("operator_name"))
            .join(Operator, Operator.id == CaptionCorrection.operator_id)
            .where(CaptionCorrection.inspection_id.in_(chunk))
            .order_by(CaptionCorrection.inspection_id, CaptionCorrection.seq)
        )
        out += [
            CaptionCorrectionRecord(
                id=r.id,
                inspection_id=r.inspection_id,
                seq=r.seq,
                operator=r.operator_name,
                created_at=r.created_at,
                machine_caption=r.machine_caption,
                caption=r.caption,
                note=r.note,
            )
            for r in rows
        ]
    return out


def recipe_select() -> Any:
    return select(
        RecipeVersion.id,
        RecipeVersion.recipe_id,
        Recipe.name.label("recipe_name"),
        RecipeVersion.version,
        RecipeVersion.body,
        RecipeVersion.body_sha256,
        RecipeVersion.created_at,
        RecipeVersion.signature_id,
    ).join(Recipe, Recipe.id == RecipeVersion.recipe_id)


def recipe_record(row: Row[Any]) -> RecipeVersionRecord:
    return RecipeVersionRecord(
        row.id, row.recipe_id, row.recipe_name, row.version, row.body, row.body_sha256, row.created_at, row.signature_id
    )


def run_select() -> Any:
    return select(Run.__table__, Operator.name.label("operator_name")).outerjoin(
        Operator, Operator.id == Run.operator_id
    )


def run_record(row: Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        operator=row.operator_name,
        recipe_version_id=row.recipe_version_id,
        source=row.source,
        label=row.label,
        lot=row.lot,
        station=row.station,
        counts=VerdictCounts(row.n_pass, row.n_fail, row.n_uncertain),
        n_duplicates=row.n_duplicate,
        n_skipped=row.n_skipped,
        outcome=row.outcome,
    )


def effective_verdict() -> ColumnElement[Any]:
    latest = (
        select(Override.new_verdict)
        .where(Override.inspection_id == Inspection.id)
        .order_by(Override.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, Inspection.verdict)


def _corrected_contains(needle: str) -> ColumnElement[bool]:
    """An operator's caption correction of the part contains ``needle`` (lower case)."""
    return exists().where(
        CaptionCorrection.inspection_id == Inspection.id,
        func.lower(CaptionCorrection.caption).contains(needle, autoescape=True),
    )


def conditions(f: InspectionFilter | None) -> list[ColumnElement[bool]]:
    if f is None:
        return []
    c: list[ColumnElement[bool]] = []
    if f.run_id is not None:
        c.append(Inspection.run_id == f.run_id)
    if f.recipe_version_id is not None:
        c.append(Inspection.recipe_version_id == f.recipe_version_id)
    if f.recipe_name is not None:
        versions = select(RecipeVersion.id).join(Recipe).where(Recipe.name == f.recipe_name)
        c.append(Inspection.recipe_version_id.in_(versions))
    if f.model_verdict is not None:
        c.append(Inspection.verdict.in_(sorted(f.model_verdict)))
    if f.effective_verdict is not None:
        c.append(effective_verdict().in_(sorted(f.effective_verdict)))
    if f.reviewed is not None:
        reviewed = exists().where(Override.inspection_id == Inspection.id)
        c.append(reviewed if f.reviewed else ~reviewed)
    if f.since is not None:
        c.append(Inspection.inspected_at >= f.since)
    if f.until is not None:
        c.append(Inspection.inspected_at < f.until)
    if f.content_hash is not None:
        c.append(Inspection.content_hash == f.content_hash)
    if f.path_contains:
        c.append(Inspection.file_path.contains(f.path_contains, autoescape=True))
    if f.caption_contains:
        needle = f.caption_contains.lower()
        c.append(
            or_(
                func.lower(Inspection.caption).contains(needle, autoescape=True),
                func.lower(Inspection.defect_type).contains(needle, autoescape=True),
                _corrected_contains(needle),
            )
        )
    if f.search and f.search.strip():
        needle = f.search.strip().lower()
        c.append(
            or_(
                func.lower(Inspection.file_path).contains(needle, autoescape=True),
                func.lower(Inspection.id).startswith(needle, autoescape=True),
                func.lower(Inspection.caption).contains(needle, autoescape=True),
                func.lower(Inspection.defect_type).contains(needle, autoescape=True),
                _corrected_contains(needle),
            )
        )
    if f.caption_status is not None:
        c.append(Inspection.caption_status == f.caption_status)
    if f.random_weights is not None:
        c.append(Inspection.random_weights.is_(f.random_weights))
    if f.wrong_part is not None:
        c.append(Inspection.wrong_part.is_(True) if f.wrong_part else Inspection.wrong_part.isnot(True))
    if f.station is not None:
        c.append(Inspection.station == f.station)
    if f.to_review is not None:
        waiting = Inspection.review_reason.isnot(None) & ~exists().where(Override.inspection_id == Inspection.id)
        c.append(waiting if f.to_review else ~waiting)
    return c


def load_records(conn: Connection, ids: Sequence[str]) -> list[InspectionRecord]:
    if not ids:
        return []
    rows: dict[str, Row[Any]] = {}
    latest: dict[str, Any] = {}  # inspection id -> its newest override row
    counts: Counter[str] = Counter()
    for chunk in chunks(ids):
        stmt = (
            select(Inspection.__table__, Recipe.name.label("recipe_name"), RecipeVersion.version)
            .join(RecipeVersion, RecipeVersion.id == Inspection.recipe_version_id)
            .join(Recipe, Recipe.id == RecipeVersion.recipe_id)
            .where(Inspection.id.in_(chunk))
        )
        rows.update((r.id, r) for r in conn.execute(stmt))
        trail = conn.execute(
            select(
                Override.inspection_id,
                Override.new_verdict,
                Override.defect_label,
                Override.created_at,
                Operator.name,
            )
            .join(Operator, Operator.id == Override.operator_id)
            .where(Override.inspection_id.in_(chunk))
            .order_by(Override.inspection_id, Override.seq)
        )
        for t in trail:
            latest[t.inspection_id] = t
            counts[t.inspection_id] += 1
    corrected = {c.inspection_id: c for c in load_corrections(conn, [i for i in ids if i in rows])}
    return [_record(rows[i], latest.get(i), counts[i], corrected.get(i)) for i in ids if i in rows]


def _record(
    r: Row[Any], last: Row[Any] | None, n_overrides: int, correction: CaptionCorrectionRecord | None = None
) -> InspectionRecord:
    model = Verdict(r.verdict)
    return InspectionRecord(
        id=r.id,
        run_id=r.run_id,
        station=r.station,
        source=r.source,
        file_path=r.file_path,
        content_hash=r.content_hash,
        inspected_at=r.inspected_at,
        recipe_version_id=r.recipe_version_id,
        recipe_name=r.recipe_name,
        recipe_version=r.version,
        detector=r.detector,
        model_id=r.model_id,
        score=r.score,
        threshold=r.threshold,
        model_verdict=model,
        effective_verdict=Verdict(last.new_verdict) if last is not None else model,
        effective_defect_label=last.defect_label if last is not None else None,
        override_count=n_overrides,
        last_reviewed_by=last.name if last is not None else None,
        last_reviewed_at=last.created_at if last is not None else None,
        latency_ms=r.latency_ms,
        random_weights=bool(r.random_weights),
        image_artifact=r.image_artifact,
        heatmap_artifact=r.heatmap_artifact,
        thumbnail_artifact=r.thumbnail_artifact,
        caption=r.caption,
        caption_status=CaptionStatus(r.caption_status) if r.caption_status is not None else None,
        caption_reason=r.caption_reason,
        defect_type=r.defect_type,
        defect_confidence=r.defect_confidence,
        model_fingerprint=r.model_fingerprint or "",
        model_device=r.model_device,
        model_dtype=r.model_dtype,
        media_time_s=r.media_time_s,
        frame_index=r.frame_index,
        wrong_part=r.wrong_part,
        identity_score=r.identity_score,
        identity_reason=r.identity_reason,
        review_reason=r.review_reason,
        corrected_caption=correction.caption if correction is not None else None,
        caption_corrected_by=correction.operator if correction is not None else None,
        caption_corrected_at=correction.created_at if correction is not None else None,
    )
