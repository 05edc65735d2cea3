"""The inspection store: every read and write of inspection records goes through here.

Returns frozen domain records (``inspector.store.domain``), never ORM rows. Writes are short
transactions (``BEGIN IMMEDIATE`` on SQLite); the station sends them from one database thread
(see ``inspector.store.writer``), while any thread may read.

Example::

    store = open_store()  # <data dir>/inspector.db, artifacts/ next to it
    recipe = store.save_recipe_version("bracket-A", recipe.to_dict())
    run = store.start_run(source="folder:/parts/lot-17", recipe_version_id=recipe.id, operator="ana")
    result = store.add_inspections([NewInspection(...), ...])  # duplicates are reported, not stored
    store.add_override(result.ids[0], "ana", Verdict.FAIL, defect_label="scratch")
    page = store.query(InspectionFilter(effective_verdict={Verdict.FAIL}), offset=0, limit=50)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from inspector.core.processes import process_tag, tag_alive
from inspector.core.timeline import TimelinePoint
from inspector.store import audit, queries
from inspector.store.artifacts import ArtifactStore
from inspector.store.domain import (
    MAX_CAPTION_CHARS,
    AddResult,
    CaptionCorrectionRecord,
    CaptionStatus,
    InspectionFilter,
    InspectionRecord,
    NewInspection,
    OperatorRecord,
    Order,
    OverrideKind,
    OverrideRecord,
    RecipeVersionRecord,
    RunOutcome,
    RunRecord,
    SkipRecord,
    Verdict,
    VerdictCounts,
    check_sha256,
    new_id,
    utc_now,
)
from inspector.store.engine import Database, open_database
from inspector.store.errors import NotFoundError, ReadOnlyError, StoreError
from inspector.store.models import (
    CaptionCorrection,
    Inspection,
    Operator,
    Override,
    Recipe,
    RecipeVersion,
    Run,
    SkippedItem,
)

if TYPE_CHECKING:
    from inspector.store.accounts import Accounts
    from inspector.store.golden import GoldenParts

log = logging.getLogger(__name__)
_COUNT_COLUMN = {Verdict.PASS: "n_pass", Verdict.FAIL: "n_fail", Verdict.UNCERTAIN: "n_uncertain"}


def open_store(
    target: str | os.PathLike[str] | None = None,
    *,
    busy_timeout_s: float = 5.0,
    durability: str = "normal",
    artifacts_dir: str | os.PathLike[str] | None = None,
    station: str | None = None,
    read_only: bool = False,
) -> InspectionStore:
    """Open the database (see :func:`~inspector.store.engine.open_database`) and its artifact files."""
    db = open_database(
        target, busy_timeout_s=busy_timeout_s, durability=durability, artifacts_dir=artifacts_dir, read_only=read_only
    )
    store = InspectionStore(db, station=station)
    store.recover_after_crash()
    return store


@dataclass(frozen=True)
class CrashRecovery:
    """What :meth:`InspectionStore.recover_after_crash` tidied up."""

    killed_runs: int
    pending_captions: int
    temp_files: int


def _clean_text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise StoreError(f"Enter a {what}: it cannot be empty.")
    return value


def _canonical_json(body: Mapping[str, Any]) -> str:
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"a recipe body must be plain JSON data (no NaN, paths or objects): {error}") from error


class InspectionStore:
    """Repository over one :class:`~inspector.store.engine.Database` and its artifact folder."""

    def __init__(self, db: Database, *, artifacts: ArtifactStore | None = None, station: str | None = None):
        self.db = db
        self.artifacts = artifacts if artifacts is not None else ArtifactStore(db.artifacts_dir)
        self.station = station if station is not None else socket.gethostname()

    def close(self) -> None:
        """Close the database, leaving the audit trail's head in a file next to it (an anchor)."""
        try:
            self.save_audit_anchor()
        except (OSError, StoreError) as error:
            log.warning("could not write the audit head next to %s: %s", self.db.where, error)
        self.db.close()

    def __enter__(self) -> InspectionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- operators -----------------------------------------------------------------------------

    def upsert_operator(self, name: str) -> OperatorRecord:
        """The operator called ``name`` (spaces trimmed), added on first use."""
        with self.db.write() as conn:
            return self._operator(conn, name)

    def operators(self) -> list[OperatorRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(Operator.id, Operator.name, Operator.created_at).order_by(Operator.name))
            return [OperatorRecord(r.id, r.name, r.created_at) for r in rows]

    def _operator(self, conn: Connection, name: str) -> OperatorRecord:
        name = _clean_text(name, "operator name")
        row = conn.execute(select(Operator.id, Operator.created_at).where(Operator.name == name)).first()
        if row is not None:
            return OperatorRecord(row.id, name, row.created_at)
        record = OperatorRecord(new_id(), name, utc_now())
        conn.execute(insert(Operator).values(id=record.id, name=name, created_at=record.created_at))
        self._audit(conn, "operators", [record.id])
        return record

    # -- recipes -------------------------------------------------------------------------------

    def save_recipe_version(self, name: str, body: Mapping[str, Any]) -> RecipeVersionRecord:
        """Store ``body`` as the recipe's next version, unless it equals the latest version."""
        name = _clean_text(name, "recipe name")
        canonical = _canonical_json(body)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        with self.db.write() as conn:
            recipe_id = conn.execute(select(Recipe.id).where(Recipe.name == name)).scalar()
            if recipe_id is None:
                recipe_id = new_id()
                conn.execute(insert(Recipe).values(id=recipe_id, name=name, created_at=utc_now()))
                self._audit(conn, "recipes", [recipe_id])
            latest = conn.execute(
                queries.recipe_select()
                .where(RecipeVersion.recipe_id == recipe_id)
                .order_by(RecipeVersion.version.desc())
            ).first()
            if latest is not None and latest.body_sha256 == digest:
                return queries.recipe_record(latest)
            values = {
                "id": new_id(),
                "recipe_id": recipe_id,
                "version": latest.version + 1 if latest is not None else 1,
                "body": json.loads(canonical),
                "body_sha256": digest,
                "created_at": utc_now(),
            }
            conn.execute(insert(RecipeVersion).values(**values))
            self._audit(conn, "recipe_versions", [values["id"]])
            return RecipeVersionRecord(recipe_name=name, **values)

    def get_recipe_version(self, recipe_version_id: str) -> RecipeVersionRecord:
        with self.db.read() as conn:
            row = conn.execute(queries.recipe_select().where(RecipeVersion.id == recipe_version_id)).first()
        if row is None:
            raise NotFoundError(f"Recipe version {recipe_version_id} is not in the database {self.db.where}.")
        return queries.recipe_record(row)

    def recipe_versions(self, name: str) -> list[RecipeVersionRecord]:
        """Every saved version of the recipe ``name``, oldest first (empty if never saved)."""
        with self.db.read() as conn:
            rows = conn.execute(
                queries.recipe_select().where(Recipe.name == name.strip()).order_by(RecipeVersion.version)
            )
            return [queries.recipe_record(r) for r in rows]

    def recipe_names(self) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(select(Recipe.name).order_by(Recipe.name)).scalars())

    def station_names(self) -> list[str]:
        """The stations whose parts this database holds (one on a station; many on a central database)."""
        with self.db.read() as conn:
            query = select(Inspection.station).where(Inspection.station.is_not(None)).distinct()
            return sorted(s for s in conn.execute(query).scalars() if s)

    def recipe_objects(self, exclude: str | None = None) -> list[str]:
        """The object names of the station's recipes (their newest versions), except recipe ``exclude``."""
        objects: list[str] = []
        for name in self.recipe_names():
            if exclude is not None and name == exclude.strip():
                continue
            versions = self.recipe_versions(name)
            obj = str(versions[-1].body.get("object_name", "")).strip() if versions else ""
            if obj and obj not in objects:
                objects.append(obj)
        return objects

    # -- runs and skipped files ----------------------------------------------------------------

    def start_run(
        self,
        *,
        source: str,
        recipe_version_id: str | None = None,
        operator: str | None = None,
        label: str | None = None,
        lot: str | None = None,
        started_at: datetime | None = None,
    ) -> RunRecord:
        with self.db.write() as conn:
            operator_id = self._operator(conn, operator).id if operator else None
            run_id = new_id()
            conn.execute(
                insert(Run).values(
                    id=run_id,
                    started_at=started_at or utc_now(),
                    operator_id=operator_id,
                    recipe_version_id=recipe_version_id,
                    source=source,
                    label=label,
                    lot=lot,
                    station=self.station,
                    process=process_tag(),
                )
            )
            self._audit(conn, "runs", [run_id])
            return self._run(conn, run_id)

    def finish_run(
        self, run_id: str, *, ended_at: datetime | None = None, outcome: RunOutcome = RunOutcome.FINISHED
    ) -> RunRecord:
        with self.db.write() as conn:
            values = {"ended_at": ended_at or utc_now(), "outcome": RunOutcome(outcome).value}
            conn.execute(update(Run).where(Run.id == run_id).values(values))
            self._audit(conn, "runs", [run_id], action="update")
            return self._run(conn, run_id)

    def recover_after_crash(self) -> CrashRecovery:
        """Tidy up after a station that died (``kill -9``, crash, power cut) on this machine.

        Its open runs are closed as ``killed`` (ended at their last stored part), captions it left
        "pending" are marked missing with the reason, and its temporary artifact files are removed.
        Runs of processes still alive, and of other stations sharing the database, are left alone.
        A read-only database is left as it is.
        """
        if self.db.read_only:
            return CrashRecovery(0, 0, 0)
        temp_files = self.artifacts.remove_stale_temp_files()
        try:
            with self.db.read() as conn:
                rows = conn.execute(
                    select(Run.id, Run.started_at, Run.process).where(
                        Run.ended_at.is_(None), Run.station == self.station
                    )
                ).all()
            dead = [r for r in rows if r.process is not None and not tag_alive(r.process)]
            captions = 0
            if dead:
                with self.db.write() as conn:
                    for r in dead:
                        last = conn.execute(
                            select(func.max(Inspection.inspected_at)).where(Inspection.run_id == r.id)
                        ).scalar()
                        conn.execute(
                            update(Run)
                            .where(Run.id == r.id, Run.ended_at.is_(None))
                            .values(ended_at=last or r.started_at, outcome=RunOutcome.KILLED.value)
                        )
                        pending = Inspection.run_id == r.id, Inspection.caption_status == CaptionStatus.PENDING
                        ids = list(conn.execute(select(Inspection.id).where(*pending)).scalars())
                        conn.execute(
                            update(Inspection)
                            .where(Inspection.id.in_(ids))
                            .values(
                                caption_status=CaptionStatus.MISSING,
                                caption_reason="the station stopped before this caption was written",
                                captioned_at=utc_now(),
                            )
                        )
                        captions += len(ids)
                        self._audit(conn, "runs", [r.id], action="recover")
                        self._audit(conn, "inspections", ids, action="recover")
        except ReadOnlyError:
            return CrashRecovery(0, 0, temp_files)
        return CrashRecovery(len(dead), captions, temp_files)

    def get_run(self, run_id: str) -> RunRecord:
        with self.db.read() as conn:
            return self._run(conn, run_id)

    def runs(self, *, since: datetime | None = None, offset: int = 0, limit: int = 100) -> list[RunRecord]:
        """Runs, newest first; ``since`` keeps those started at or after it."""
        query = queries.run_select().order_by(Run.started_at.desc(), Run.id.desc()).offset(offset).limit(limit)
        if since is not None:
            query = query.where(Run.started_at >= since)
        with self.db.read() as conn:
            return [queries.run_record(r) for r in conn.execute(query)]

    def count_duplicates(self, run_id: str, n: int) -> None:
        """Count ``n`` parts the run found already inspected before scoring them (nothing else is written)."""
        if n > 0:
            with self.db.write() as conn:
                conn.execute(update(Run).where(Run.id == run_id).values(n_duplicate=Run.n_duplicate + n))

    def record_skip(self, path: str, reason: str, *, run_id: str | None = None) -> SkipRecord:
        """Log a file that could not be inspected, and count it on its run."""
        record = SkipRecord(new_id(), run_id, str(path), reason, utc_now())
        with self.db.write() as conn:
            conn.execute(
                insert(SkippedItem).values(
                    id=record.id, run_id=run_id, path=record.path, reason=reason, created_at=record.created_at
                )
            )
            self._audit(conn, "skipped_items", [record.id])
            if run_id is not None:
                conn.execute(update(Run).where(Run.id == run_id).values(n_skipped=Run.n_skipped + 1))
        return record

    def skips(self, *, run_id: str | None = None, offset: int = 0, limit: int = 1000) -> list[SkipRecord]:
        query = (
            select(SkippedItem.__table__).order_by(SkippedItem.created_at, SkippedItem.id).offset(offset).limit(limit)
        )
        if run_id is not None:
            query = query.where(SkippedItem.run_id == run_id)
        with self.db.read() as conn:
            return [SkipRecord(r.id, r.run_id, r.path, r.reason, r.created_at) for r in conn.execute(query)]

    def _run(self, conn: Connection, run_id: str) -> RunRecord:
        row = conn.execute(queries.run_select().where(Run.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"Run {run_id} is not in the database {self.db.where}.")
        return queries.run_record(row)

    # -- inspections ---------------------------------------------------------------------------

    def add_inspections(self, batch: Sequence[NewInspection]) -> AddResult:
        """Log a batch in one transaction; a part already logged under the same recipe version with
        the same weights (same content hash and model fingerprint) is not stored again but reported
        as a duplicate with its existing id.

        When this returns, every inserted row is committed (it survives a crash or ``kill -9``).
        """
        if not batch:
            return AddResult((), ())
        with self.db.write() as conn:
            self._check_references(conn, batch)
            seen = self._existing(conn, batch)
            ids: list[str] = []
            duplicate: list[bool] = []
            rows: list[dict[str, Any]] = []
            run_deltas: dict[str, Counter[str]] = defaultdict(Counter)
            for item in batch:
                key = (item.content_hash, item.recipe_version_id, item.model_fingerprint)
                is_dup = key in seen
                if not is_dup:
                    seen[key] = item.id
                    rows.append(self._row(item))
                ids.append(seen[key])
                duplicate.append(is_dup)
                if item.run_id is not None:
                    run_deltas[item.run_id]["n_duplicate" if is_dup else _COUNT_COLUMN[item.verdict]] += 1
            if rows:
                conn.execute(insert(Inspection), rows)
                self._audit(conn, "inspections", [r["id"] for r in rows])
            for run_id, delta in run_deltas.items():
                values = {name: getattr(Run, name) + n for name, n in delta.items()}
                conn.execute(update(Run).where(Run.id == run_id).values(values))
        return AddResult(tuple(ids), tuple(duplicate))

    def has_inspection(self, content_hash: str, recipe_version_id: str, model_fingerprint: str = "") -> bool:
        return bool(self.find_existing([content_hash], recipe_version_id, model_fingerprint))

    def find_existing(
        self, content_hashes: Iterable[str], recipe_version_id: str, model_fingerprint: str = ""
    ) -> dict[str, str]:
        """``{content_hash: inspection id}`` for those already logged under ``recipe_version_id``
        by the weights ``model_fingerprint`` (a part scored by other weights is not "already inspected").

        A folder run asks this before scoring, so re-running a folder costs no model time.
        """
        hashes = sorted({check_sha256(h) for h in content_hashes})
        found: dict[str, str] = {}
        with self.db.read() as conn:
            for chunk in queries.chunks(hashes):
                rows = conn.execute(
                    select(Inspection.content_hash, Inspection.id).where(
                        Inspection.recipe_version_id == recipe_version_id,
                        Inspection.model_fingerprint == model_fingerprint,
                        Inspection.content_hash.in_(chunk),
                    )
                )
                found.update({r.content_hash: r.id for r in rows})
        return found

    def model_verdicts(self, inspection_ids: Iterable[str]) -> dict[str, Verdict]:
        """``{inspection id: the model's verdict}`` (a re-run's exit code counts known failures too)."""
        found: dict[str, Verdict] = {}
        with self.db.read() as conn:
            for chunk in queries.chunks(sorted(set(inspection_ids))):
                rows = conn.execute(select(Inspection.id, Inspection.verdict).where(Inspection.id.in_(chunk)))
                found.update({r.id: Verdict(r.verdict) for r in rows})
        return found

    def set_caption(
        self,
        inspection_id: str,
        *,
        status: CaptionStatus,
        caption: str | None = None,
        reason: str | None = None,
        defect_type: str | None = None,
        defect_confidence: float | None = None,
    ) -> None:
        """Fill in the captioner's slots (these are machine output, not part of the audit trail)."""
        values = {
            "caption_status": CaptionStatus(status),
            "caption": caption,
            "caption_reason": reason,
            "defect_type": defect_type,
            "defect_confidence": defect_confidence,
            "captioned_at": utc_now(),
        }
        with self.db.write() as conn:
            result = conn.execute(update(Inspection).where(Inspection.id == inspection_id).values(values))
            if result.rowcount == 0:
                raise self._missing(inspection_id)
            self._audit(conn, "inspections", [inspection_id], action="caption")

    def get(self, inspection_id: str) -> InspectionRecord:
        with self.db.read() as conn:
            records = queries.load_records(conn, [inspection_id])
        if not records:
            raise self._missing(inspection_id)
        return records[0]

    def query(
        self,
        where: InspectionFilter | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        order: Order = Order.NEWEST,
    ) -> list[InspectionRecord]:
        """One page of inspections for a lazy table (``count`` gives the number of rows)."""
        stmt = (
            select(Inspection.id)
            .where(*queries.conditions(where))
            .order_by(*queries.ORDER[Order(order)])
            .offset(offset)
            .limit(limit)
        )
        with self.db.read() as conn:
            return queries.load_records(conn, list(conn.execute(stmt).scalars()))

    def timeline(self, run_id: str) -> list[TimelinePoint]:
        """A video run's scored frames (time in the video, score, part id, frame number) in time order."""
        stmt = (
            select(Inspection.media_time_s, Inspection.score, Inspection.id, Inspection.frame_index)
            .where(Inspection.run_id == run_id, Inspection.media_time_s.isnot(None))
            .order_by(Inspection.media_time_s, Inspection.frame_index)
        )
        with self.db.read() as conn:
            return [TimelinePoint(float(t), float(s), i, f) for t, s, i, f in conn.execute(stmt) if t is not None]

    def count(self, where: InspectionFilter | None = None) -> int:
        stmt = select(func.count()).select_from(Inspection).where(*queries.conditions(where))
        with self.db.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def count_by_verdict(self, where: InspectionFilter | None = None, *, effective: bool = True) -> VerdictCounts:
        """How many pass / fail / uncertain, by effective (reviewed) or by model verdict."""
        verdict = queries.effective_verdict() if effective else Inspection.verdict
        stmt = select(verdict, func.count()).where(*queries.conditions(where)).group_by(verdict)
        with self.db.read() as conn:
            counts = {Verdict(v): n for v, n in conn.execute(stmt)}
        return VerdictCounts(counts.get(Verdict.PASS, 0), counts.get(Verdict.FAIL, 0), counts.get(Verdict.UNCERTAIN, 0))

    # -- overrides: the append-only audit trail ------------------------------------------------

    def add_override(
        self,
        inspection_id: str,
        operator: str,
        new_verdict: Verdict,
        defect_label: str | None = None,
        note: str | None = None,
    ) -> OverrideRecord:
        """Record an operator's decision and return the new audit row.

        ``defect_label`` is the part's label after this decision (None clears it); confirming the
        current verdict is a decision too, and marks the part reviewed.
        """
        new_verdict = Verdict(new_verdict)
        with self.db.write() as conn:
            model_verdict, trail = self._trail(conn, inspection_id)
            previous = trail[-1].new_verdict if trail else model_verdict
            previous_label = trail[-1].defect_label if trail else None
            return self._append(
                conn, inspection_id, trail, operator, OverrideKind.OVERRIDE,
                previous, new_verdict, previous_label, defect_label, note, None,
            )  # fmt: skip

    def undo_last_override(self, inspection_id: str, operator: str, note: str | None = None) -> OverrideRecord:
        """Take back the newest override not yet undone, with a new audit row restoring the verdict
        and defect label that override replaced. Nothing is deleted."""
        with self.db.write() as conn:
            _model, trail = self._trail(conn, inspection_id)
            active: list[OverrideRecord] = []
            for row in trail:
                if row.kind == OverrideKind.OVERRIDE:
                    active.append(row)
                else:
                    active = [a for a in active if a.id != row.undoes_id]
            if not active:
                raise StoreError("There is no operator decision to undo for this part.")
            target, current = active[-1], trail[-1]
            return self._append(
                conn, inspection_id, trail, operator, OverrideKind.UNDO,
                current.new_verdict, target.previous_verdict, current.defect_label,
                target.previous_defect_label, note, target.id,
            )  # fmt: skip

    def history(self, inspection_id: str) -> list[OverrideRecord]:
        """The part's audit trail, oldest first."""
        with self.db.read() as conn:
            return self._trail(conn, inspection_id)[1]

    def _trail(self, conn: Connection, inspection_id: str) -> tuple[Verdict, list[OverrideRecord]]:
        model_verdict = conn.execute(select(Inspection.verdict).where(Inspection.id == inspection_id)).scalar()
        if model_verdict is None:
            raise self._missing(inspection_id)
        trail = queries.load_trail(conn, inspection_id)
        return Verdict(model_verdict), trail

    def _append(
        self,
        conn: Connection,
        inspection_id: str,
        trail: list[OverrideRecord],
        operator: str,
        kind: OverrideKind,
        previous: Verdict,
        new: Verdict,
        previous_label: str | None,
        label: str | None,
        note: str | None,
        undoes_id: str | None,
    ) -> OverrideRecord:
        label = (label or "").strip() or None
        who = self._operator(conn, operator)
        record = OverrideRecord(
            id=new_id(),
            inspection_id=inspection_id,
            seq=trail[-1].seq + 1 if trail else 1,
            kind=kind,
            operator=who.name,
            created_at=utc_now(),
            previous_verdict=previous,
            new_verdict=new,
            previous_defect_label=previous_label,
            defect_label=label,
            note=(note or "").strip() or None,
            undoes_id=undoes_id,
        )
        values = {k: v for k, v in vars(record).items() if k != "operator"}
        values["operator_id"] = who.id
        conn.execute(insert(Override).values(**values))
        self._audit(conn, "overrides", [record.id])
        return record

    # -- caption corrections: append-only, audited -----------------------------------------------

    def correct_caption(
        self, inspection_id: str, operator: str, caption: str, note: str | None = None
    ) -> CaptionCorrectionRecord:
        """Record an operator's caption for a part; it becomes the effective caption.

        The captioner's caption stays in the inspection row (and in this record as
        ``machine_caption``); earlier corrections stay in the trail. Empty text is refused (a
        correction cannot remove a caption).
        """
        text = " ".join((caption or "").split())
        if not text:
            raise StoreError("Enter the corrected caption: it cannot be empty.")
        if len(text) > MAX_CAPTION_CHARS:
            raise StoreError(
                f"The corrected caption has {len(text)} characters; at most {MAX_CAPTION_CHARS} are kept. "
                "Shorten it: nothing was recorded."
            )
        with self.db.write() as conn:
            machine = conn.execute(select(Inspection.caption).where(Inspection.id == inspection_id)).first()
            if machine is None:
                raise self._missing(inspection_id)
            last = conn.execute(
                select(func.max(CaptionCorrection.seq)).where(CaptionCorrection.inspection_id == inspection_id)
            ).scalar()
            who = self._operator(conn, operator)
            record = CaptionCorrectionRecord(
                id=new_id(),
                inspection_id=inspection_id,
                seq=int(last or 0) + 1,
                operator=who.name,
                created_at=utc_now(),
                machine_caption=machine.caption,
                caption=text,
                note=(note or "").strip() or None,
            )
            values = {k: v for k, v in vars(record).items() if k != "operator"}
            values["operator_id"] = who.id
            conn.execute(insert(CaptionCorrection).values(**values))
            self._audit(conn, "caption_corrections", [record.id])
            return record

    def caption_corrections(self, inspection_id: str) -> list[CaptionCorrectionRecord]:
        """A part's caption corrections, oldest first (the last one is effective)."""
        with self.db.read() as conn:
            return queries.load_corrections(conn, [inspection_id])

    def corrected_records(self, where: InspectionFilter | None = None) -> list[InspectionRecord]:
        """Every part with a caption correction (and matching ``where``), oldest inspection first."""
        corrected = select(CaptionCorrection.inspection_id).distinct()
        stmt = (
            select(Inspection.id)
            .where(Inspection.id.in_(corrected), *queries.conditions(where))
            .order_by(Inspection.inspected_at.asc(), Inspection.id.asc())
        )
        with self.db.read() as conn:
            return queries.load_records(conn, list(conn.execute(stmt).scalars()))

    @property
    def accounts(self) -> Accounts:
        """Operators, PINs, roles, the log-in policy and electronic signatures."""
        from inspector.store.accounts import Accounts

        return Accounts(self)

    @property
    def golden(self) -> GoldenParts:
        """Golden parts of each recipe and every check of them."""
        from inspector.store.golden import GoldenParts

        return GoldenParts(self)

    # -- the audit trail ----------------------------------------------------------------------

    def _audit(self, conn: Connection, table: str, row_ids: Sequence[str], action: str = "insert") -> None:
        audit.record_rows(conn, table, row_ids, station=self.station, action=action)

    def audit_head(self) -> audit.ChainHead:
        """The newest entry of the audit trail (export it to prove later that nothing before it changed)."""
        with self.db.read() as conn:
            return audit.read_head(conn, self.db.where)

    def save_audit_anchor(self) -> Path | None:
        """Write the head next to the database file (SQLite); returns that file."""
        if self.db.path is None or self.db.read_only:
            return None
        head = self.audit_head()
        if head.seq == 0:
            return None
        path = audit.anchor_path(self.db.path)
        audit.write_anchor(path, head)
        return path

    def verify_audit(self, anchors: Sequence[audit.ChainHead] = ()) -> audit.VerifyReport:
        """Recompute the audit chain (see :func:`inspector.store.audit.verify`), with the head
        file next to the database as one more anchor when it is there."""
        found = list(anchors)
        if self.db.path is not None:
            path = audit.anchor_path(self.db.path)
            try:
                found.append(audit.load_anchor(path))
            except FileNotFoundError:
                pass
            except (OSError, ValueError, KeyError) as error:
                raise StoreError(f"The audit head file {path} cannot be read: {error}") from error
        with self.db.read() as conn:
            return audit.verify(conn, anchors=found, database=self.db.where)

    # -- helpers -------------------------------------------------------------------------------

    def _missing(self, inspection_id: str) -> NotFoundError:
        return NotFoundError(f"Inspection {inspection_id} is not in the database {self.db.where}.")

    def _row(self, item: NewInspection) -> dict[str, Any]:
        return {
            "id": item.id,
            "run_id": item.run_id,
            "station": item.station if item.station is not None else self.station,
            "source": item.source,
            "file_path": item.file_path,
            "content_hash": item.content_hash,
            "inspected_at": item.inspected_at,
            "recipe_version_id": item.recipe_version_id,
            "detector": item.detector,
            "model_id": item.model_id,
            "score": float(item.score),
            "threshold": float(item.threshold),
            "verdict": item.verdict,
            "latency_ms": item.latency_ms,
            "random_weights": bool(item.random_weights),
            "image_artifact": item.image_artifact,
            "heatmap_artifact": item.heatmap_artifact,
            "thumbnail_artifact": item.thumbnail_artifact,
            "caption_status": item.caption_status,
            "model_fingerprint": item.model_fingerprint,
            "model_device": item.model_device,
            "model_dtype": item.model_dtype,
            "media_time_s": item.media_time_s,
            "frame_index": item.frame_index,
            "wrong_part": item.wrong_part,
            "identity_score": item.identity_score,
            "identity_reason": item.identity_reason,
            "review_reason": item.review_reason,
        }

    def _check_references(self, conn: Connection, batch: Sequence[NewInspection]) -> None:
        for column, wanted, what in (
            (RecipeVersion.id, {i.recipe_version_id for i in batch}, "Recipe version"),
            (Run.id, {i.run_id for i in batch if i.run_id is not None}, "Run"),
        ):
            if not wanted:
                continue
            found = set(conn.execute(select(column).where(column.in_(sorted(wanted)))).scalars())
            if missing := wanted - found:
                raise NotFoundError(
                    f"{what} {sorted(missing)[0]} is not in the database {self.db.where}; nothing was stored."
                )

    @staticmethod
    def _existing(conn: Connection, batch: Sequence[NewInspection]) -> dict[tuple[str, str, str], str]:
        wanted = {(i.content_hash, i.recipe_version_id, i.model_fingerprint) for i in batch}
        hashes = sorted({h for h, _, _ in wanted})
        found: dict[tuple[str, str, str], str] = {}
        for chunk in queries.chunks(hashes):
            rows = conn.execute(
                select(
                    Inspection.id, Inspection.content_hash, Inspection.recipe_version_id, Inspection.model_fingerprint
                ).where(Inspection.content_hash.in_(chunk))
            )
            for r in rows:
                key = (r.content_hash, r.recipe_version_id, r.model_fingerprint)
                if key in wanted:
                    found[key] = r.id
        return found
