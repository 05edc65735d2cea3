"""Golden parts: known parts of a recipe with the verdict they must get, and every check of them.

The database is their one home (the recipe file holds none): registering and removing one is a
signed change (:mod:`inspector.store.changes`), and both the parts and every check are in the
audit chain. Scoring them is :mod:`inspector.pipeline.golden`'s job.

Example::

    part = store.golden.add("ball screw", "/golden/crack-1.png", "defective", signer=Signer("eve", pin))
    store.golden.parts("ball screw")
    store.golden.checks("ball screw")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import aliased

from inspector.store.artifacts import sha256_file
from inspector.store.changes import Signer, authorize_change
from inspector.store.domain import new_id, utc_now
from inspector.store.errors import NotFoundError, StoreError
from inspector.store.models import GoldenCheck, GoldenPart, Operator, Recipe, RecipeVersion

if TYPE_CHECKING:
    from inspector.store.repository import InspectionStore

EXPECTED = ("good", "defective")


class GoldenPartError(StoreError):
    """A golden-part request that cannot be done as asked (bad input: nothing was changed)."""

    exit_code = 2


POLICIES = ("block", "warn")


@dataclass(frozen=True)
class GoldenPartRecord:
    id: str
    recipe_name: str
    file_path: str
    content_hash: str
    expected: str  # "good" (must pass) or "defective" (must fail)
    note: str | None
    created_at: datetime
    created_by: str | None
    signature_id: str | None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class GoldenResult:
    """How one golden part scored in one check."""

    part_id: str
    file_path: str
    expected: str
    got: str  # the model verdict ("pass" / "fail" / "uncertain"), or "" when it could not be scored
    score: float | None
    threshold: float
    ok: bool
    problem: str | None = None  # why it could not be scored (file missing, changed since it was registered)

    def describe(self) -> str:
        name = Path(self.file_path).name
        if self.problem:
            return f"{name}: {self.problem}"
        want = "pass" if self.expected == "good" else "fail"
        return (
            f"{name}: expected {self.expected} ({want}), got {self.got.upper()} — score {self.score:.4f} vs "
            f"threshold {self.threshold:.4f}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GoldenCheckRecord:
    id: str
    recipe_name: str
    recipe_version: int
    recipe_version_id: str
    checked_at: datetime
    trigger: str  # run-start / on-demand / recipe-change
    policy: str  # block / warn
    passed: bool
    model_id: str
    model_fingerprint: str
    random_weights: bool
    threshold: float
    results: tuple[GoldenResult, ...]
    operator: str | None = None
    station: str | None = None

    @property
    def wrong(self) -> tuple[GoldenResult, ...]:
        return tuple(r for r in self.results if not r.ok)


class GoldenParts:
    """The golden parts and checks of one store (``store.golden``)."""

    def __init__(self, store: InspectionStore) -> None:
        self.store = store
        self.db = store.db

    def add(
        self, recipe_name: str, path: str | Path, expected: str, *, signer: Signer | None, note: str | None = None
    ) -> GoldenPartRecord:
        """Register ``path`` as a golden part of ``recipe_name`` (a signed change)."""
        if expected not in EXPECTED:
            raise GoldenPartError(f"Expected verdict '{expected}' is not one of {', '.join(EXPECTED)}.")
        path = Path(path).resolve()
        if not path.is_file():
            raise GoldenPartError(f"Golden part {path} does not exist.")
        digest = sha256_file(path)
        name = " ".join(recipe_name.split())
        if any(p.content_hash == digest for p in self.parts(name)):
            raise GoldenPartError(f"{path.name} is already a golden part of recipe '{name}'.")
        who = authorize_change(self.store, signer, ["golden"])
        self.store.artifacts.save_image_copy(path)  # the registered bytes stay, whatever happens to the file
        part_id = new_id()
        with self.db.write() as conn:
            recipe_id = conn.execute(select(Recipe.id).where(Recipe.name == name)).scalar()
            if recipe_id is None:
                recipe_id = new_id()
                conn.execute(insert(Recipe).values(id=recipe_id, name=name, created_at=utc_now()))
                self.store._audit(conn, "recipes", [recipe_id])
            signature = None
            if who is not None and signer is not None:
                signature = self.store.accounts.insert_signature(
                    conn, who, meaning=signer.meaning, action="golden", subject_table="golden_parts",
                    subject_id=part_id, reason=signer.reason, subject_sha256=digest,
                    changes=f"golden part added: {path.name} ({expected})",
                )  # fmt: skip
            operator_id = self.store._operator(conn, who.name).id if who is not None else None
            conn.execute(
                insert(GoldenPart).values(
                    id=part_id, recipe_id=recipe_id, file_path=str(path), content_hash=digest, expected=expected,
                    note=(note or "").strip() or None, created_at=utc_now(), created_by=operator_id,
                    signature_id=signature.id if signature else None,
                )
            )  # fmt: skip
            self.store._audit(conn, "golden_parts", [part_id])
        return self.get(part_id)

    def remove(self, part_id: str, *, signer: Signer | None) -> GoldenPartRecord:
        """Take a golden part out of the checks (a signed change; the row stays, marked removed)."""
        part = self.get(part_id)
        if part.removed_at is not None:
            raise GoldenPartError(f"Golden part {Path(part.file_path).name} was already removed.")
        who = authorize_change(self.store, signer, ["golden"])
        with self.db.write() as conn:
            signature = None
            if who is not None and signer is not None:
                signature = self.store.accounts.insert_signature(
                    conn, who, meaning=signer.meaning, action="golden", subject_table="golden_parts",
                    subject_id=part.id, reason=signer.reason, subject_sha256=part.content_hash,
                    changes=f"golden part removed: {Path(part.file_path).name} ({part.expected})",
                )  # fmt: skip
            conn.execute(
                update(GoldenPart)
                .where(GoldenPart.id == part.id)
                .values(
                    removed_at=utc_now(),
                    removed_by=self.store._operator(conn, who.name).id if who is not None else None,
                    removal_signature_id=signature.id if signature else None,
                )
            )
            self.store._audit(conn, "golden_parts", [part.id], action="update")
        return self.get(part_id)

    def image(self, part: GoldenPartRecord) -> Path | None:
        """The registered image: the file at its path while it still has the registered content, else
        the copy kept in the artifact store at registration; None when neither is there."""
        path = Path(part.file_path)
        if path.is_file() and sha256_file(path) == part.content_hash:
            return path
        try:
            key = self.store.artifacts.key_for(part.content_hash, (path.suffix or ".bin").lower())
        except ValueError:
            return None
        return self.store.artifacts.path(key) if self.store.artifacts.verify(key) else None

    def find(self, recipe_name: str, key: str) -> GoldenPartRecord:
        """A golden part of the recipe by id, id prefix, file name or path."""
        matches = [
            p
            for p in self.parts(recipe_name)
            if p.id.startswith(key) or Path(p.file_path).name == key or p.file_path == str(Path(key).resolve())
        ]
        if len(matches) != 1:
            found = "no" if not matches else "more than one"
            raise GoldenPartError(f"Recipe '{recipe_name}' has {found} golden part matching '{key}'.")
        return matches[0]

    def get(self, part_id: str) -> GoldenPartRecord:
        found = self._parts(GoldenPart.id == part_id)
        if not found:
            raise NotFoundError(f"Golden part {part_id} is not in the database {self.db.where}.")
        return found[0]

    def parts(self, recipe_name: str, *, include_removed: bool = False) -> list[GoldenPartRecord]:
        """The recipe's golden parts, oldest first (without removed ones unless asked)."""
        where = [Recipe.name == " ".join(recipe_name.split())]
        if not include_removed:
            where.append(GoldenPart.removed_at.is_(None))
        return self._parts(*where)

    def hashes(self, recipe_name: str) -> set[str]:
        """Content hashes of every part ever registered as golden for the recipe (never learned from)."""
        return {p.content_hash for p in self.parts(recipe_name, include_removed=True)}

    def _parts(self, *where) -> list[GoldenPartRecord]:
        author = aliased(Operator)
        with self.db.read() as conn:
            rows = conn.execute(
                select(GoldenPart.__table__, Recipe.name.label("recipe_name"), author.name.label("author"))
                .join(Recipe, Recipe.id == GoldenPart.recipe_id)
                .outerjoin(author, author.id == GoldenPart.created_by)
                .where(*where)
                .order_by(GoldenPart.created_at, GoldenPart.id)
            ).mappings()
            return [
                GoldenPartRecord(
                    r["id"],
                    r["recipe_name"],
                    r["file_path"],
                    r["content_hash"],
                    r["expected"],
                    r["note"],
                    r["created_at"],
                    r["author"],
                    r["signature_id"],
                    r["removed_at"],
                )  # fmt: skip
                for r in rows
            ]

    # -- checks ----------------------------------------------------------------------------------
    def record_check(
        self,
        recipe_version_id: str,
        results: Sequence[GoldenResult],
        *,
        trigger: str,
        policy: str,
        model_id: str,
        model_fingerprint: str,
        random_weights: bool,
        threshold: float,
        operator: str | None = None,
    ) -> GoldenCheckRecord:
        """Store one check (every check is kept, passed or not)."""
        if policy not in POLICIES:
            raise GoldenPartError(f"Golden policy '{policy}' is not one of {', '.join(POLICIES)}.")
        check_id = new_id()
        with self.db.write() as conn:
            operator_id = self.store._operator(conn, operator).id if operator else None
            conn.execute(
                insert(GoldenCheck).values(
                    id=check_id, recipe_version_id=recipe_version_id, checked_at=utc_now(), trigger=trigger,
                    policy=policy, passed=all(r.ok for r in results), model_id=model_id,
                    model_fingerprint=model_fingerprint, random_weights=bool(random_weights),
                    threshold=float(threshold), results=[r.to_json() for r in results], operator_id=operator_id,
                    station=self.store.station,
                )
            )  # fmt: skip
            self.store._audit(conn, "golden_checks", [check_id])
        return self._checks(GoldenCheck.id == check_id)[0]

    def checks(
        self,
        recipe_name: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[GoldenCheckRecord]:
        """Stored checks, newest first."""
        where = []
        if recipe_name is not None:
            where.append(Recipe.name == " ".join(recipe_name.split()))
        if since is not None:
            where.append(GoldenCheck.checked_at >= since)
        if until is not None:
            where.append(GoldenCheck.checked_at < until)
        return self._checks(*where, limit=limit)

    def _checks(self, *where, limit: int = 1000) -> list[GoldenCheckRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    GoldenCheck.__table__,
                    Recipe.name.label("recipe_name"),
                    RecipeVersion.version.label("recipe_version"),
                    Operator.name.label("operator_name"),
                )
                .join(RecipeVersion, RecipeVersion.id == GoldenCheck.recipe_version_id)
                .join(Recipe, Recipe.id == RecipeVersion.recipe_id)
                .outerjoin(Operator, Operator.id == GoldenCheck.operator_id)
                .where(*where)
                .order_by(GoldenCheck.checked_at.desc(), GoldenCheck.id)
                .limit(limit)
            ).mappings()
            return [
                GoldenCheckRecord(
                    r["id"],
                    r["recipe_name"],
                    r["recipe_version"],
                    r["recipe_version_id"],
                    r["checked_at"],
                    r["trigger"],
                    r["policy"],
                    bool(r["passed"]),
                    r["model_id"],
                    r["model_fingerprint"],
                    bool(r["random_weights"]),
                    float(r["threshold"]),
                    tuple(GoldenResult(**item) for item in r["results"] or ()),
                    r["operator_name"],
                    r["station"],
                )  # fmt: skip
                for r in rows
            ]
