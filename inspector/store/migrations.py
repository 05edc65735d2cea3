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


# -- PostgreSQL: the rules a shared (central) database needs ----------------------------------------

_PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION inspector_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the %% audit trail is append-only', TG_TABLE_NAME USING ERRCODE = 'raise_exception';
END
$$
"""


def postgres_guards(conn: Connection, tables: tuple[str, ...]) -> None:
    """PostgreSQL's own triggers refusing UPDATE, DELETE and TRUNCATE on append-only ``tables``.

    The same rule as the SQLite triggers of ``inspector.store.engine``; idempotent.
    """
    conn.exec_driver_sql(_PG_GUARD_FUNCTION)
    for table in tables:
        for name, when, each in (
            (f"{table}_append_only", "BEFORE UPDATE OR DELETE", "ROW"),
            (f"{table}_no_truncate", "BEFORE TRUNCATE", "STATEMENT"),
        ):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {each} EXECUTE FUNCTION inspector_append_only()"
            )


def postgres_station_names(conn: Connection) -> None:
    """A shared database holds many stations' operators and recipes: a name is unique per station
    (each station's own SQLite keeps that rule), not across the plant, so two stations may both
    have an operator "ana" or a recipe "bracket-A" (rows stay apart by their UUIDs)."""
    for table, constraint in (("operators", "uq_operators_name"), ("recipes", "uq_recipes_name")):
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}")
    for table in ("operators", "recipes"):
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_name ON {table} (name)")


def _v2_to_v3(conn: Connection) -> None:
    """PostgreSQL: append-only triggers on the audit trail, names unique per station (none on SQLite,
    whose guards the engine keeps)."""
    if conn.dialect.name == "postgresql":
        postgres_guards(conn, ("overrides",))
        postgres_station_names(conn)


def _v3_to_v4(conn: Connection) -> None:
    """How each run ended (finished, cancelled, terminated, error, killed) and which process ran it."""
    add_column(conn, "runs", Column("outcome", String(16)))
    add_column(conn, "runs", Column("process", String(40)))
    # Runs closed before this version ended normally as far as anyone can tell.
    conn.execute(text("UPDATE runs SET outcome = 'finished' WHERE ended_at IS NOT NULL"))


MIGRATIONS: list[Migration] = [
    Migration(1, "caption and defect-type slots; skipped files", _v1_to_v2),
    Migration(2, "PostgreSQL: append-only triggers; operator and recipe names unique per station", _v2_to_v3),
    Migration(3, "run outcome and process", _v3_to_v4),
]

assert MIGRATIONS[-1].to_version == SCHEMA_VERSION, "add a migration step when bumping SCHEMA_VERSION"


def steps_from(version: int) -> list[Migration]:
    """The steps that take a database at ``version`` to :data:`SCHEMA_VERSION`, in order."""
    steps = [m for m in MIGRATIONS if m.from_version >= version]
    if not steps or steps[0].from_version != version:
        raise LookupError(f"no migration path from schema version {version}")
    return steps
