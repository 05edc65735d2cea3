"""Schema migrations: one step per schema version, each run inside the upgrade's transaction.

A step is frozen once released: it spells out its own columns and tables instead of reading them
from ``models`` (which describe only the newest schema). Steps use SQLAlchemy constructs and
standard ``ALTER TABLE ... ADD COLUMN``, so they run on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Boolean,
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
    UniqueConstraint,
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
    """``ALTER TABLE <table> ADD COLUMN <column>`` compiled for the connection's database.

    Idempotent on PostgreSQL (``IF NOT EXISTS``), where steps may run over a schema created new.
    """
    quote = conn.dialect.identifier_preparer.quote
    spec = CreateColumn(column).compile(dialect=conn.dialect)
    exists = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
    conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN{exists} {spec}"))


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


_OLD_UNIQUE = "uq_inspections_content_hash_recipe_version_id"
_NEW_UNIQUE = "uq_inspections_content_hash_recipe_version_id_model_fingerprint"
_V5_INDEXES = {
    "ix_inspections_inspected_at_id": ("inspected_at", "id"),
    "ix_inspections_verdict_inspected_at": ("verdict", "inspected_at"),
    "ix_inspections_recipe_version_id_inspected_at": ("recipe_version_id", "inspected_at"),
    "ix_inspections_run_id_inspected_at": ("run_id", "inspected_at"),
    "ix_inspections_caption_status": ("caption_status",),
}


def _v5_inspections(meta: MetaData, name: str) -> Table:
    """The inspections table as schema 5 defines it (frozen)."""
    Table("runs", meta, Column("id", String(36), primary_key=True))
    Table("recipe_versions", meta, Column("id", String(36), primary_key=True))
    verdicts = "verdict IN ('pass', 'fail', 'uncertain')"
    statuses = "caption_status IN ('pending', 'done', 'missing')"
    return Table(
        name,
        meta,
        Column("id", String(36), primary_key=True),
        Column("run_id", String(36), ForeignKey("runs.id", name="fk_inspections_run_id_runs")),
        Column("station", String(200)),
        Column("source", String(1000), nullable=False),
        Column("file_path", Text),
        Column("content_hash", String(64), nullable=False),
        Column("inspected_at", DateTime(timezone=True), nullable=False),
        Column(
            "recipe_version_id",
            String(36),
            ForeignKey("recipe_versions.id", name="fk_inspections_recipe_version_id_recipe_versions"),
            nullable=False,
        ),
        Column("detector", String(100), nullable=False),
        Column("model_id", String(200), nullable=False),
        Column("score", Float, nullable=False),
        Column("threshold", Float, nullable=False),
        Column("verdict", String(16), CheckConstraint(verdicts, name="ck_inspections_verdict"), nullable=False),
        Column("latency_ms", Float),
        Column("random_weights", Boolean(create_constraint=False), nullable=False),
        Column("image_artifact", String(100)),
        Column("heatmap_artifact", String(100)),
        Column("thumbnail_artifact", String(100)),
        Column("caption", Text),
        Column("caption_status", String(16), CheckConstraint(statuses, name="ck_inspections_caption_status")),
        Column("caption_reason", Text),
        Column("defect_type", String(200)),
        Column("defect_confidence", Float),
        Column("captioned_at", DateTime(timezone=True)),
        *_V5_NEW_COLUMNS(),
        UniqueConstraint("content_hash", "recipe_version_id", "model_fingerprint", name=_NEW_UNIQUE),
    )


def _V5_NEW_COLUMNS() -> list[Column]:  # noqa: N802 - a frozen list, built fresh for each table
    return [
        Column("model_fingerprint", String(80), nullable=False, server_default=text("''")),
        Column("model_device", String(40)),
        Column("model_dtype", String(16)),
    ]


def _v4_to_v5(conn: Connection) -> None:
    """Model identity on inspections: weights fingerprint, device and dtype; "already inspected"
    becomes same image + recipe version + weights fingerprint.

    Rows from before keep an empty fingerprint ("unrecorded"), so no run with recorded weights
    reuses them. SQLite cannot change a table's UNIQUE constraint in place: the table is rebuilt
    (the engine runs migrations with foreign-key enforcement off and checks the keys afterwards).
    """
    if conn.dialect.name != "sqlite":  # PostgreSQL: in place, and idempotent like the step before
        for column in _V5_NEW_COLUMNS():
            spec = CreateColumn(column).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE inspections ADD COLUMN IF NOT EXISTS {spec}")
        for name in (_OLD_UNIQUE, _NEW_UNIQUE):
            conn.exec_driver_sql(f"ALTER TABLE inspections DROP CONSTRAINT IF EXISTS {name}")
        conn.exec_driver_sql(
            f"ALTER TABLE inspections ADD CONSTRAINT {_NEW_UNIQUE} "
            "UNIQUE (content_hash, recipe_version_id, model_fingerprint)"
        )
        return
    meta = MetaData()
    new = _v5_inspections(meta, "inspections_v5")
    new.create(conn)
    old_columns = [c.name for c in new.columns if c.name not in ("model_fingerprint", "model_device", "model_dtype")]
    names = ", ".join(old_columns)
    conn.exec_driver_sql(f"INSERT INTO inspections_v5 ({names}) SELECT {names} FROM inspections")
    conn.exec_driver_sql("DROP TABLE inspections")
    conn.exec_driver_sql("ALTER TABLE inspections_v5 RENAME TO inspections")
    for index_name, columns in _V5_INDEXES.items():
        conn.exec_driver_sql(f"CREATE INDEX {index_name} ON inspections ({', '.join(columns)})")


def _v5_to_v6(conn: Connection) -> None:
    """Operators' roles, PIN hashes and lock-out; station policy; signatures; the audit hash chain.

    Rows already in the database are chained by the engine once every step has run
    (``inspector.store.audit.seal_existing``), so that they are read with the newest columns.
    Idempotent on PostgreSQL, like the steps before.
    """

    def add_column(conn: Connection, table: str, column: Column) -> None:
        spec = CreateColumn(column).compile(dialect=conn.dialect)
        exists = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN{exists} {spec}")

    for column in (
        Column("role", String(16)),
        Column("pin_hash", String(400)),
        Column("pin_set_at", DateTime(timezone=True)),
        Column("disabled_at", DateTime(timezone=True)),
        Column("failed_logins", Integer, nullable=False, server_default=text("0")),
        Column("locked_until", DateTime(timezone=True)),
    ):
        add_column(conn, "operators", column)
    add_column(conn, "schema_info", Column("audit_chain", String(36)))
    meta = MetaData(naming_convention=NAMING)
    Table("operators", meta, Column("id", String(36), primary_key=True))  # for the foreign keys only
    when = DateTime(timezone=True)
    Table(
        "station_policy",
        meta,
        Column("id", String(64), primary_key=True),
        Column("value", JSON, nullable=False),
        Column("updated_at", when, nullable=False),
        Column("updated_by", String(36), ForeignKey("operators.id")),
    )
    Table(
        "signatures",
        meta,
        Column("id", String(36), primary_key=True),
        Column("operator_id", String(36), ForeignKey("operators.id"), nullable=False),
        Column("signed_at", when, nullable=False),
        Column("meaning", String(40), nullable=False),
        Column("action", String(40), nullable=False),
        Column("subject_table", String(40), nullable=False),
        Column("subject_id", String(36), nullable=False),
        Column("reason", Text),
        Index(None, "subject_id"),
    )
    Table(
        "audit_log",
        meta,
        Column("id", String(36), primary_key=True),
        Column("chain", String(36), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("created_at", when, nullable=False),
        Column("station", String(200), nullable=False),
        Column("table_name", String(40), nullable=False),
        Column("row_id", String(64), nullable=False),
        Column("action", String(16), nullable=False),
        Column("content", Text, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        UniqueConstraint("chain", "seq"),
        Index(None, "table_name", "row_id"),
    )
    Table(
        "audit_head",
        meta,
        Column("id", String(36), primary_key=True),
        Column("station", String(200), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("updated_at", when, nullable=False),
    )
    meta.create_all(conn, tables=[meta.tables[n] for n in ("station_policy", "signatures", "audit_log", "audit_head")])
    if conn.dialect.name == "postgresql":
        postgres_guards(conn, ("audit_log", "signatures"))


#: The first schema version that keeps the audit hash chain.
AUDIT_SINCE = 6

#: Schema 7: the inspection columns PostgreSQL keeps unchanged (as SQLite's guards of schema 6 do).
_V7_KEPT_INSPECTION_COLUMNS = (
    "id", "run_id", "station", "source", "file_path", "content_hash", "inspected_at", "recipe_version_id",
    "detector", "model_id", "score", "threshold", "verdict", "latency_ms", "random_weights",
    "model_fingerprint", "model_device", "model_dtype",
)  # fmt: skip


def postgres_keep_inspections(conn: Connection) -> None:
    """PostgreSQL triggers: an inspection row is never deleted, and its verdict, score and origin never
    change (the caption slots may be filled in later). Re-sending the same values is allowed, so a
    station's forwarder can upsert a row again. Idempotent."""
    old = ", ".join(f"OLD.{c}" for c in _V7_KEPT_INSPECTION_COLUMNS)
    new = ", ".join(f"NEW.{c}" for c in _V7_KEPT_INSPECTION_COLUMNS)
    conn.exec_driver_sql(
        f"""
CREATE OR REPLACE FUNCTION inspector_keep_inspection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'inspection records cannot be removed' USING ERRCODE = 'raise_exception';
    END IF;
    IF ({old}) IS DISTINCT FROM ({new}) THEN
        RAISE EXCEPTION 'an inspection''s verdict, score and origin cannot be changed'
            USING ERRCODE = 'raise_exception';
    END IF;
    RETURN NEW;
END
$$
"""
    )
    for name, when, each in (
        ("inspections_keep", "BEFORE UPDATE OR DELETE", "ROW"),
        ("inspections_no_truncate", "BEFORE TRUNCATE", "STATEMENT"),
    ):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON inspections")
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name} {when} ON inspections FOR EACH {each} EXECUTE FUNCTION inspector_keep_inspection()"
        )


def _v6_to_v7(conn: Connection) -> None:
    """PostgreSQL: inspection records kept as SQLite's schema-6 guards keep them (nothing on SQLite)."""
    if conn.dialect.name == "postgresql":
        postgres_keep_inspections(conn)


def _v7_to_v8(conn: Connection) -> None:
    """Video frame time and index; the part-identity check (wrong part, its score and reason)."""
    for column in (
        Column("media_time_s", Float),
        Column("frame_index", Integer),
        Column("wrong_part", Boolean),
        Column("identity_score", Float),
        Column("identity_reason", Text),
    ):
        add_column(conn, "inspections", column)


def _v8_to_v9(conn: Connection) -> None:
    """Why a part was queued for review on its own (uncertain band, near the threshold, spot check)."""
    add_column(conn, "inspections", Column("review_reason", String(40)))
    meta = MetaData(naming_convention=NAMING)
    inspections = Table(
        "inspections", meta, Column("id", String(36), primary_key=True), Column("review_reason", String(40))
    )
    Index("ix_inspections_review_reason", inspections.c.review_reason).create(conn, checkfirst=True)


def _v9_to_v10(conn: Connection) -> None:
    """Operators' caption corrections (append-only, audited; the machine caption is kept)."""
    meta = MetaData(naming_convention=NAMING)
    Table("inspections", meta, Column("id", String(36), primary_key=True))  # for the foreign keys only
    Table("operators", meta, Column("id", String(36), primary_key=True))
    table = Table(
        "caption_corrections",
        meta,
        Column("id", String(36), primary_key=True),
        Column("inspection_id", String(36), ForeignKey("inspections.id", ondelete="RESTRICT"), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("operator_id", String(36), ForeignKey("operators.id"), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("machine_caption", Text),
        Column("caption", Text, nullable=False),
        Column("note", Text),
        UniqueConstraint("inspection_id", "seq"),
        Index(None, "created_at"),
    )
    table.create(conn, checkfirst=conn.dialect.name == "postgresql")
    if conn.dialect.name == "postgresql":
        postgres_guards(conn, ("caption_corrections",))


def _v10_to_v11(conn: Connection) -> None:
    """Signed recipe versions (who signed, role, what changed, the hash signed); golden parts and their checks."""
    add_column(conn, "recipe_versions", Column("signature_id", String(36)))
    for column in (Column("role", String(16)), Column("subject_sha256", String(64)), Column("changes", Text)):
        add_column(conn, "signatures", column)
    meta = MetaData(naming_convention=NAMING)
    for name in ("operators", "recipes", "recipe_versions"):  # for the foreign keys only
        Table(name, meta, Column("id", String(36), primary_key=True))
    when = DateTime(timezone=True)
    Table(
        "golden_parts",
        meta,
        Column("id", String(36), primary_key=True),
        Column("recipe_id", String(36), ForeignKey("recipes.id"), nullable=False),
        Column("file_path", Text, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("expected", String(16), nullable=False),
        Column("note", Text),
        Column("created_at", when, nullable=False),
        Column("created_by", String(36), ForeignKey("operators.id")),
        Column("signature_id", String(36)),
        Column("removed_at", when),
        Column("removed_by", String(36), ForeignKey("operators.id")),
        Column("removal_signature_id", String(36)),
        Index(None, "recipe_id"),
    )
    Table(
        "golden_checks",
        meta,
        Column("id", String(36), primary_key=True),
        Column("recipe_version_id", String(36), ForeignKey("recipe_versions.id"), nullable=False),
        Column("checked_at", when, nullable=False),
        Column("trigger", String(40), nullable=False),
        Column("policy", String(16), nullable=False),
        Column("passed", Boolean, nullable=False),
        Column("model_id", String(200), nullable=False),
        Column("model_fingerprint", String(80), nullable=False),
        Column("random_weights", Boolean, nullable=False),
        Column("threshold", Float, nullable=False),
        Column("results", JSON, nullable=False),
        Column("operator_id", String(36), ForeignKey("operators.id")),
        Column("station", String(200)),
        Index(None, "recipe_version_id", "checked_at"),
        Index(None, "checked_at"),
    )
    meta.create_all(conn, tables=[meta.tables["golden_parts"], meta.tables["golden_checks"]])


MIGRATIONS: list[Migration] = [
    Migration(1, "caption and defect-type slots; skipped files", _v1_to_v2),
    Migration(2, "PostgreSQL: append-only triggers; operator and recipe names unique per station", _v2_to_v3),
    Migration(3, "run outcome and process", _v3_to_v4),
    Migration(4, "model fingerprint, device and dtype on inspections; duplicates per fingerprint", _v4_to_v5),
    Migration(5, "operators in the database; signatures; the audit hash chain", _v5_to_v6),
    Migration(6, "PostgreSQL: inspection records cannot be deleted, nor their verdict changed", _v6_to_v7),
    Migration(7, "video frame time; part identity (wrong part)", _v7_to_v8),
    Migration(8, "why a part was queued for review on its own", _v8_to_v9),
    Migration(9, "operators' caption corrections (append-only)", _v9_to_v10),
    Migration(10, "signed recipe versions; golden parts and golden-part checks", _v10_to_v11),
]

assert MIGRATIONS[-1].to_version == SCHEMA_VERSION, "add a migration step when bumping SCHEMA_VERSION"


def steps_from(version: int) -> list[Migration]:
    """The steps that take a database at ``version`` to :data:`SCHEMA_VERSION`, in order."""
    steps = [m for m in MIGRATIONS if m.from_version >= version]
    if not steps or steps[0].from_version != version:
        raise LookupError(f"no migration path from schema version {version}")
    return steps
