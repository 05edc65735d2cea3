"""Schema migrations: one step per schema version, each run inside the upgrade's transaction.

A step is frozen once released: it spells out its own columns and tables instead of reading them
from ``models`` (which describe only the newest schema). Steps use SQLAlchemy constructs and
standard ``ALTER TABLE ... ADD COLUMN``, so they run on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.schema import CreateColumn

from inspector.store.models import NAMING, SCHEMA_VERSION


@dataclass(frozen=True)
class Migration:
    from_version: int
    description: str
    apply: Callable[[Connection], None]

    @property
    def to_version(self) -> int:
        return self.from_version + 1


def add_column(conn: Connection, table: str, column: Column) -> None:
    """``ALTER TABLE <table> ADD COLUMN <column>`` compiled for the connection's database."""
    quote = conn.dialect.identifier_preparer.quote
    spec = CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN {spec}"))


def _v1_to_v2(conn: Connection) -> None:
    """Caption and defect-type slots on inspections; skipped files and their count per run."""
    statuses = "caption_status IN ('pending', 'done', 'missing')"
    for column in (
        Column("caption", Text),
        Column("caption_status", String(16), CheckConstraint(statuses)),
        Column("caption_reason", Text),
        Column("defect_type", String(200)),
        Column("defect_confidence", Float),
        Column("captioned_at", DateTime(timezone=True)),
    ):
        add_column(conn, "inspections", column)
    add_column(conn, "runs", Column("n_skipped", Integer, nullable=False, server_default=text("0")))

    meta = MetaData(naming_convention=NAMING)
    Table("runs", meta, Column("id", String(36), primary_key=True))  # for the foreign key only
    inspections = Table(
        "inspections", meta, Column("id", String(36), primary_key=True), Column("caption_status", String(16))
    )
    skipped = Table(
        "skipped_items",
        meta,
        Column("id", String(36), primary_key=True),
        Column("run_id", String(36), ForeignKey("runs.id")),
        Column("path", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index(None, "run_id"),
    )
    skipped.create(conn)
    Index("ix_inspections_caption_status", inspections.c.caption_status).create(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "caption and defect-type slots; skipped files", _v1_to_v2),
]

assert MIGRATIONS[-1].to_version == SCHEMA_VERSION, "add a migration step when bumping SCHEMA_VERSION"


def steps_from(version: int) -> list[Migration]:
    """The steps that take a database at ``version`` to :data:`SCHEMA_VERSION`, in order."""
    steps = [m for m in MIGRATIONS if m.from_version >= version]
    if not steps or steps[0].from_version != version:
        raise LookupError(f"no migration path from schema version {version}")
    return steps
