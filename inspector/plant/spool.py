"""The station's SQLite as a spool: a change log filled by the database itself, read by consumers.

Every insert or update of a station table (inspections, overrides, runs, recipe versions, ...) adds
a row to ``plant_changes`` *in the same transaction*, through SQLite triggers made here. So a change
that is committed locally is also queued for forwarding, whatever process or thread wrote it, and a
crash can never separate the two. Each consumer (the PostgreSQL forwarder, the MQTT publisher) keeps
its own position in ``plant_cursors``; a change is pruned once every consumer has passed it.

The tables and triggers belong to the plant network, not to the station's schema version: they are
made (idempotently) when a station first uses a plant consumer, and the rows already in the
database are queued then (a station that joins the network forwards its history too).

This is the only place outside ``inspector.store.engine`` with SQLite-specific SQL (the triggers).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, insert, literal_column, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inspector.store.engine import Database
from inspector.store.errors import StoreError
from inspector.store.models import Base, SchemaInfo

META = MetaData()

changes = Table(
    "plant_changes",
    META,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(64), nullable=False),
    Column("row_id", String(64), nullable=False),
    Column("op", String(1), nullable=False),  # I (insert) or U (update)
    sqlite_autoincrement=True,  # never reuse a number, even after pruning
)

cursors = Table(
    "plant_cursors",
    META,
    Column("consumer", String(64), primary_key=True),
    Column("seq", Integer, nullable=False),
)

identity = Table(
    "plant_identity",
    META,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)


def forwarded_tables() -> list[Table]:
    """The station's tables, parents before children (foreign keys), each with a one-column key."""
    return [
        t for t in Base.metadata.sorted_tables if t.name != SchemaInfo.__tablename__ and len(t.primary_key.columns) == 1
    ]


@dataclass(frozen=True)
class Change:
    seq: int
    table: str
    row_id: str
    op: str


class Spool:
    """The change log of one station database (SQLite only)."""

    def __init__(self, db: Database) -> None:
        if not db.is_sqlite:
            raise StoreError(
                "The station's spool is its local SQLite database; a server URL cannot be a spool. "
                "Give the central server as the plant database, and keep --db for the local file."
            )
        self.db = db
        self.tables = {t.name: t for t in forwarded_tables()}
        self._install()

    # -- set-up --------------------------------------------------------------------------------

    def _install(self) -> None:
        with self.db.write() as conn:
            existing = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
            new_log = changes.name not in existing
            META.create_all(conn)
            for table in self.tables.values():
                pk_name = next(iter(table.primary_key.columns)).name
                for op, event in (("I", "INSERT"), ("U", "UPDATE")):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS plant_log_{table.name}_{op} AFTER {event} ON {table.name} "
                        f"BEGIN INSERT INTO plant_changes (table_name, row_id, op) "
                        f"VALUES ('{table.name}', NEW.{pk_name}, '{op}'); END"
                    )
            if new_log:  # queue what the station stored before it joined the plant network
                for table in self.tables.values():
                    pk = next(iter(table.primary_key.columns))
                    conn.execute(
                        insert(changes).from_select(
                            ["table_name", "row_id", "op"],
                            select(literal_column(f"'{table.name}'"), pk, literal_column("'I'")).order_by(pk),
                        )
                    )
            if conn.execute(select(identity.c.value).where(identity.c.key == "install_id")).scalar() is None:
                conn.execute(insert(identity).values(key="install_id", value=secrets.token_hex(16)))

    @property
    def install_id(self) -> str:
        """A random id made once per station database: tells two stations that claim one name apart."""
        with self.db.read() as conn:
            return str(conn.execute(select(identity.c.value).where(identity.c.key == "install_id")).scalar_one())

    # -- consumers -----------------------------------------------------------------------------

    def register(self, consumer: str) -> None:
        """Start ``consumer`` at the beginning of the log (kept if it is registered already)."""
        with self.db.write() as conn:
            conn.execute(sqlite_insert(cursors).values(consumer=consumer, seq=0).on_conflict_do_nothing())

    def unregister(self, consumer: str) -> None:
        """Forget a consumer that is switched off for good (its waiting changes are dropped for it)."""
        with self.db.write() as conn:
            conn.execute(delete(cursors).where(cursors.c.consumer == consumer))
        self.prune()

    def position(self, consumer: str) -> int:
        with self.db.read() as conn:
            value = conn.execute(select(cursors.c.seq).where(cursors.c.consumer == consumer)).scalar()
        if value is None:
            raise StoreError(f"'{consumer}' is not a consumer of the spool {self.db.where}.")
        return int(value)

    def last_seq(self) -> int:
        """The newest change's number (0 when the log is empty)."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())

    def pending(
        self,
        consumer: str,
        *,
        limit: int = 500,
        tables: Iterable[str] | None = None,
        upto: int | None = None,
    ) -> list[Change]:
        """The next changes after the consumer's position (of ``tables``, up to ``upto``), oldest first."""
        query = (
            select(changes)
            .where(changes.c.seq > select(cursors.c.seq).where(cursors.c.consumer == consumer).scalar_subquery())
            .order_by(changes.c.seq)
            .limit(limit)
        )
        if tables is not None:
            query = query.where(changes.c.table_name.in_(sorted(tables)))
        if upto is not None:
            query = query.where(changes.c.seq <= upto)
        with self.db.read() as conn:
            return [Change(r.seq, r.table_name, r.row_id, r.op) for r in conn.execute(query)]

    def waiting(self, consumer: str, *, tables: Iterable[str] | None = None) -> int:
        """How many changes the consumer has still to handle."""
        query = (
            select(func.count())
            .select_from(changes)
            .where(changes.c.seq > select(cursors.c.seq).where(cursors.c.consumer == consumer).scalar_subquery())
        )
        if tables is not None:
            query = query.where(changes.c.table_name.in_(sorted(tables)))
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def advance(self, consumer: str, seq: int) -> None:
        """Mark everything up to ``seq`` as handled by ``consumer`` (never moves backwards)."""
        with self.db.write() as conn:
            conn.execute(cursors.update().where(cursors.c.consumer == consumer, cursors.c.seq < seq).values(seq=seq))
        self.prune()

    def prune(self) -> None:
        """Drop the changes every registered consumer has handled."""
        with self.db.write() as conn:
            low = conn.execute(select(func.min(cursors.c.seq))).scalar()
            if low is not None:
                conn.execute(delete(changes).where(changes.c.seq <= low))

    def rows(self, table: str, ids: Iterable[str]) -> list[dict[str, object]]:
        """The current values of rows of a station table, as the store's types give them."""
        t = self.tables[table]
        pk = next(iter(t.primary_key.columns))
        wanted = sorted(set(ids))
        out: list[dict[str, object]] = []
        with self.db.read() as conn:
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                out.extend(dict(r._mapping) for r in conn.execute(select(t).where(pk.in_(chunk)).order_by(pk)))
        return out
