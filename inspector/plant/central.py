"""The central (plant) PostgreSQL side of forwarding: the station registry and idempotent upserts.

Rows arrive verbatim (every column, hash-chain columns included) keyed by their UUID primary key,
so forwarding the same change twice changes nothing. Append-only tables (the audit trail) are only
ever inserted (``ON CONFLICT DO NOTHING``; their triggers refuse updates); other rows take the
station's newest values (``ON CONFLICT DO UPDATE``: a caption filled in later, a run's counts).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, Float, MetaData, String, Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

import inspector
from inspector.store.engine import APPEND_ONLY_TABLES
from inspector.store.errors import StoreError
from inspector.store.models import UTCDateTime

META = MetaData()

stations = Table(
    "plant_stations",
    META,
    Column("station_id", String(200), primary_key=True),
    Column("install_id", String(64), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("app_version", String(40), nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("clock_offset_s", Float),  # server clock minus station clock, at the last connection
)


class StationIdConflictError(StoreError):
    """Another station already forwards to the central database under the same station id."""


@dataclass(frozen=True)
class StationRegistration:
    station_id: str
    server_now: datetime
    clock_offset_s: float  # server minus station


def register_station(
    conn: Connection, station_id: str, install_id: str, *, station_now: datetime, where: str
) -> StationRegistration:
    """Make sure ``station_id`` belongs to this station (its spool's install id) on the server."""
    META.create_all(conn, checkfirst=True)
    server_now = conn.exec_driver_sql("SELECT now()").scalar_one()
    offset = (server_now - station_now).total_seconds()
    row = conn.execute(select(stations).where(stations.c.station_id == station_id)).first()
    if row is None:
        conn.execute(
            insert(stations).values(
                station_id=station_id,
                install_id=install_id,
                hostname=socket.gethostname(),
                app_version=inspector.__version__,
                first_seen=server_now,
                last_seen=server_now,
                clock_offset_s=offset,
            )
        )
    elif row.install_id != install_id:
        raise conflict(station_id, row.hostname, row.first_seen, where)
    else:
        conn.execute(
            update(stations)
            .where(stations.c.station_id == station_id)
            .values(last_seen=server_now, clock_offset_s=offset, hostname=socket.gethostname())
        )
    return StationRegistration(station_id, server_now, offset)


def conflict(station_id: str, hostname: str, first_seen: datetime, where: str) -> StationIdConflictError:
    return StationIdConflictError(
        f"Another station (host {hostname}, forwarding since {first_seen:%Y-%m-%d %H:%M} UTC) already uses the "
        f"station id '{station_id}' on {where}. Nothing was forwarded and nothing is lost (the records "
        "wait in this station's spool): give this station its own station id in the plant settings."
    )


def touch_station(conn: Connection, station_id: str, install_id: str, where: str) -> None:
    """Inside each forwarding transaction: refuse if the id was taken over meanwhile."""
    done = conn.execute(
        update(stations)
        .where(stations.c.station_id == station_id, stations.c.install_id == install_id)
        .values(last_seen=conn.exec_driver_sql("SELECT now()").scalar_one())
    )
    if done.rowcount == 0:
        row = conn.execute(select(stations).where(stations.c.station_id == station_id)).first()
        raise conflict(station_id, row.hostname if row else "?", row.first_seen if row else datetime.min, where)


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``rows`` into the central ``table``, idempotently (see the module docstring)."""
    if not rows:
        return
    pk = next(iter(table.primary_key.columns)).name
    stmt = pg_insert(table)
    if table.name in APPEND_ONLY_TABLES:
        stmt = stmt.on_conflict_do_nothing(index_elements=[pk])
    else:
        others = [c.name for c in table.columns if c.name != pk]
        stmt = stmt.on_conflict_do_update(index_elements=[pk], set_={n: stmt.excluded[n] for n in others})
    conn.execute(stmt, [dict(r) for r in rows])
