"""The tamper-evident audit trail: one hash chain over every record a quality manager relies on.

Every write the store makes to an audited table (operators, recipes and their versions, runs,
inspections, overrides, caption corrections, skipped files, electronic signatures, the station policy) appends an entry
to ``audit_log`` in the same transaction. An entry holds the row's canonical content (JSON of its
columns, see :func:`canonical_row`), the previous entry's hash and its own hash over both, so that
changing, deleting or inserting any audited row outside the station, or editing the trail itself,
breaks the chain at a place :func:`verify` names.

Hashing is plain Python over canonical values (never SQL), so a copy of the records forwarded to
another database (PostgreSQL) verifies the same way.

What this does not do: someone with write access to the database *and* this code can rebuild the
whole chain consistently. Two anchors guard against that: the head (sequence number and hash) is
written next to the database file whenever the store closes (``<db>.audit-head.json``), and
``inspector audit head`` exports it so that a quality manager can keep a copy off the station;
``inspector audit verify --anchor FILE`` then proves that the trail up to that head is unchanged.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from inspector.store.domain import new_id, utc_now
from inspector.store.models import AuditEntry, AuditHead, Base, SchemaInfo

GENESIS = "0" * 64
#: Columns left out of a table's audited content: counters derived from other rows, log-in
#: lock-out state. Everything else (including columns added by later schema versions) is covered.
EXCLUDED: dict[str, frozenset[str]] = {
    "operators": frozenset({"failed_logins", "locked_until"}),
    "runs": frozenset({"n_pass", "n_fail", "n_uncertain", "n_duplicate", "n_skipped"}),
}
#: The audited tables and the column that dates their rows, in the order a report lists them.
AUDITED: dict[str, str] = {
    "station_policy": "updated_at",
    "operators": "created_at",
    "recipes": "created_at",
    "recipe_versions": "created_at",
    "signatures": "signed_at",
    "runs": "started_at",
    "inspections": "inspected_at",
    "overrides": "created_at",
    "caption_corrections": "created_at",
    "skipped_items": "created_at",
    "golden_parts": "created_at",
    "golden_checks": "checked_at",
}
#: Tables whose date column the store sets in the same transaction as the audit entry: a row
#: dated far from its entry was back-dated (even if the forger also appended a matching entry).
STAMPED_AT_WRITE = frozenset(
    {"operators", "recipes", "recipe_versions", "signatures", "overrides", "caption_corrections", "skipped_items",
     "golden_parts", "golden_checks"}
)  # fmt: skip
#: Events that are not row writes (``table_name`` of their entries).
EVENT = "event"
GUARDS_RECREATED = "guards_recreated"
SEALED = "sealed_at_migration"
#: How far an entry may be dated before the one preceding it (clock corrections) before it is
#: reported as recorded out of order (a back-dated insertion).
CLOCK_TOLERANCE = timedelta(minutes=5)


# -- canonical content ---------------------------------------------------------------------------
def canonical_value(value: Any) -> Any:
    """A JSON value that is the same whichever database the row was read from."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return canonical_value(value.value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"float": value.hex()}  # exact, NaN-safe, independent of float formatting
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    raise TypeError(f"cannot put a {type(value).__name__} into the audit trail")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_row(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The audited content of one row: every column except the table's :data:`EXCLUDED` ones."""
    skip = EXCLUDED.get(table, frozenset())
    return {k: canonical_value(v) for k, v in row.items() if k not in skip}


def entry_hash(
    chain: str, seq: int, created_at: str, station: str, table: str, row_id: str, action: str, content: str, prev: str
) -> str:
    """The chain hash of one entry (all strings already canonical)."""
    body = dumps([chain, seq, created_at, station, table, row_id, action, content, prev])
    return hashlib.sha256(body.encode()).hexdigest()


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


# -- writing ---------------------------------------------------------------------------------------
def record_rows(conn: Connection, table: str, row_ids: Sequence[str], *, station: str, action: str = "insert") -> None:
    """Append one entry per row (read back in this transaction, so exactly what was stored)."""
    if not row_ids:
        return
    t = _table(table)
    rows: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(row_ids), 500):
        chunk = list(row_ids[start : start + 500])
        rows.update({r.id: r for r in conn.execute(select(t).where(t.c.id.in_(chunk))).mappings()})
    items = [(row_id, dumps(canonical_row(table, rows[row_id]))) for row_id in row_ids]
    _append(conn, [(table, row_id, action, content) for row_id, content in items], station=station)


def record_event(conn: Connection, kind: str, details: Mapping[str, Any], *, station: str) -> None:
    """Append an event that is not a row write (guards recreated, rows sealed at migration...)."""
    _append(conn, [(EVENT, kind, "event", dumps(canonical_value(dict(details))))], station=station)


def local_chain(conn: Connection) -> str:
    """This database's own chain (made on first use)."""
    chain = conn.execute(select(SchemaInfo.audit_chain).where(SchemaInfo.id == 1)).scalar()
    if chain is None:
        chain = new_id()
        conn.execute(update(SchemaInfo).where(SchemaInfo.id == 1).values(audit_chain=chain))
    return chain


def _append(conn: Connection, items: Iterable[tuple[str, str, str, str]], *, station: str) -> None:
    chain = local_chain(conn)
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == chain).with_for_update()).first()
    seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS)
    now = utc_now()
    stamp = canonical_value(now)
    rows = []
    for table, row_id, action, content in items:
        seq += 1
        digest = entry_hash(chain, seq, stamp, station, table, row_id, action, content, prev)
        rows.append(
            {
                "id": new_id(),
                "chain": chain,
                "seq": seq,
                "created_at": now,
                "station": station,
                "table_name": table,
                "row_id": row_id,
                "action": action,
                "content": content,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    if not rows:
        return
    conn.execute(insert(AuditEntry), rows)
    if head is None:
        conn.execute(insert(AuditHead).values(id=chain, station=station, seq=seq, hash=prev, updated_at=now))
    else:
        conn.execute(update(AuditHead).where(AuditHead.id == chain).values(seq=seq, hash=prev, updated_at=now))


def seal_existing(conn: Connection, *, station: str) -> int:
    """Chain every audited row present when the trail is introduced (a migration); returns how many.

    These rows were written before the station kept a trail: the chain proves they are unchanged
    since the migration, not before it (the ``sealed_at_migration`` event says so).
    """
    total = 0
    for table, when in AUDITED.items():
        t = _table(table)
        ids = list(conn.execute(select(t.c.id).order_by(t.c[when], t.c.id)).scalars())
        record_rows(conn, table, ids, station=station, action="seal")
        total += len(ids)
    record_event(conn, SEALED, {"rows": total}, station=station)
    return total


# -- the head, as an anchor outside the database --------------------------------------------------
@dataclass(frozen=True)
class ChainHead:
    """The newest entry of a trail: keep a copy off the station to prove later that nothing before it changed."""

    seq: int
    hash: str
    at: datetime | None
    database: str = ""
    chain: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "at": canonical_value(self.at) if self.at else None,
            "database": self.database,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainHead:
        at = data.get("at")
        when = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if at else None
        return cls(int(data["seq"]), str(data["hash"]), when, str(data.get("database", "")), str(data["chain"]))


def read_head(conn: Connection, database: str = "") -> ChainHead:
    """The head of this database's own chain."""
    chain = conn.execute(select(SchemaInfo.audit_chain).where(SchemaInfo.id == 1)).scalar() or ""
    row = conn.execute(select(AuditHead.seq, AuditHead.hash, AuditHead.updated_at).where(AuditHead.id == chain)).first()
    if row is None:
        return ChainHead(0, GENESIS, None, database, chain)
    return ChainHead(row.seq, row.hash, row.updated_at, database, chain)


def anchor_path(db_path: Path) -> Path:
    """The head file the station keeps next to its database."""
    return db_path.with_name(db_path.name + ".audit-head.json")


def write_anchor(path: Path, head: ChainHead) -> None:
    """Write the head atomically (only ever forwards: an older head never replaces a newer one)."""
    try:
        old = load_anchor(path)
    except (OSError, ValueError, KeyError):
        old = None
    if old is not None and old.seq >= head.seq:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(head.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_anchor(path: Path) -> ChainHead:
    return ChainHead.from_json(json.loads(path.read_text(encoding="utf-8")))


# -- verification ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One broken link: where (table, row, audit entry), when (the row's or the entry's time), what."""

    table: str
    row_id: str
    what: str
    at: datetime | None = None
    seq: int | None = None

    def describe(self) -> str:
        where = f"{self.table} row {self.row_id}" if self.table != "audit_log" else f"audit entry {self.row_id}"
        when = f", {self.at.strftime('%Y-%m-%d %H:%M:%S')} UTC" if self.at else ""
        entry = f", audit entry {self.seq}" if self.seq is not None and self.table != "audit_log" else ""
        return f"{where}{when}{entry}: {self.what}"


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`: ``ok`` when no finding; ``findings`` oldest first."""

    entries: int
    rows: int
    head: ChainHead
    findings: tuple[Finding, ...] = ()
    anchors_checked: int = 0
    sealed_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def summary(self) -> str:
        if self.ok:
            return (
                f"Audit trail verified: {self.entries} entries over {self.rows} records, "
                f"head {self.head.seq}:{self.head.hash[:12]}"
                + (f", matching {self.anchors_checked} saved head(s)" if self.anchors_checked else "")
            )
        return f"Audit trail BROKEN ({len(self.findings)} problem(s)); first: {self.findings[0].describe()}"


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"float"}:
        return repr(float.fromhex(value["float"]))
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _diff(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    changes = []
    for key, old in stored.items():
        if key not in current:
            changes.append(f"column {key} is gone")
        elif current[key] != old:
            changes.append(f"{key} was {_fmt(old)}, now {_fmt(current[key])}")
    return changes


def _parse_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass
class _Walk:
    """Where the walk along one chain is."""

    prev: str = GENESIS
    expected: int = 1
    last_time: datetime | None = None
    hashes: dict[int, str] = field(default_factory=dict)


def verify(
    conn: Connection, *, anchors: Sequence[ChainHead] = (), database: str = "", clock_tolerance=CLOCK_TOLERANCE
) -> VerifyReport:
    """Recompute the chain and compare every audited row with its newest entry.

    Reports, oldest first: entries altered, removed or out of order; rows changed, deleted or
    inserted outside the station (with what changed); guards found missing at an open; a head
    (in the database or an exported ``anchors`` copy) that the chain no longer reaches.
    """
    findings: list[tuple[datetime, int, Finding]] = []

    def add(finding: Finding, at: datetime | None, seq: int | None) -> None:
        findings.append((at or datetime.max.replace(tzinfo=UTC), seq if seq is not None else 1 << 62, finding))

    t = AuditEntry.__table__
    walks: dict[str, _Walk] = {}
    latest: dict[tuple[str, str], Any] = {}
    n_entries = sealed = 0
    for e in conn.execute(select(t).order_by(t.c.chain, t.c.seq)):
        n_entries += 1
        w = walks.setdefault(e.chain, _Walk())
        stamp = canonical_value(e.created_at)

        def entry_problem(what: str, e=e) -> None:
            add(Finding("audit_log", str(e.seq), what, e.created_at, e.seq), e.created_at, e.seq)

        if e.seq != w.expected:
            entry_problem(
                f"entries {w.expected} to {e.seq - 1} are missing (deleted from the trail)"
                if e.seq > w.expected
                else "a second entry with this number"
            )
        elif e.prev_hash != w.prev:
            entry_problem("does not follow the entry before it")
        digest = entry_hash(e.chain, e.seq, stamp, e.station, e.table_name, e.row_id, e.action, e.content, e.prev_hash)
        if digest != e.hash:
            entry_problem(f"entry for {e.table_name} {e.row_id} was altered")
        if w.last_time is not None and e.created_at < w.last_time - clock_tolerance:
            entry_problem(
                f"entry for {e.table_name} {e.row_id} is dated {stamp}, before the entry preceding it "
                "(recorded out of order: back-dated)"
            )
        w.last_time = max(w.last_time, e.created_at) if w.last_time else e.created_at
        w.prev, w.expected = e.hash, max(w.expected, e.seq) + 1
        w.hashes[e.seq] = e.hash
        if e.table_name == EVENT:
            if e.row_id == GUARDS_RECREATED:
                missing = ", ".join(json.loads(e.content).get("missing", []))
                entry_problem(
                    "the database's append-only guards were missing when it was opened "
                    f"(someone removed them: {missing}); they were recreated"
                )
            elif e.row_id == SEALED:
                sealed += int(json.loads(e.content).get("rows", 0))
            continue
        latest[(e.table_name, e.row_id)] = e
        if e.action == "insert" and e.table_name in STAMPED_AT_WRITE:
            dated = json.loads(e.content).get(AUDITED[e.table_name])
            if isinstance(dated, str) and abs(_parse_time(dated) - e.created_at) > clock_tolerance:
                what = f"is dated {dated} but entered the audit trail at {stamp} (back-dated)"
                add(Finding(e.table_name, e.row_id, what, _parse_time(dated), e.seq), _parse_time(dated), e.seq)

    head = read_head(conn, database)
    heads = {r.id: r for r in conn.execute(select(AuditHead.__table__))}
    for chain in sorted(set(heads) | set(walks)):
        w, h = walks.get(chain, _Walk()), heads.get(chain)
        last = w.expected - 1
        if h is None:
            what = f"the chain {chain[:8]} has no head (it was removed)"
            add(Finding("audit_log", str(last), what, w.last_time, last), w.last_time, last)
        elif not w.hashes:
            add(Finding("audit_log", str(h.seq), "every audit entry is gone", h.updated_at, h.seq), h.updated_at, h.seq)
        elif h.seq != last or h.hash != w.prev:
            what = f"the trail's head says entry {h.seq} ({h.hash[:12]}), but it ends at entry {last} ({w.prev[:12]})"
            add(Finding("audit_log", str(h.seq), what, h.updated_at, h.seq), h.updated_at, h.seq)
    for anchor in anchors:
        w = walks.get(anchor.chain, _Walk())
        if w.hashes.get(anchor.seq) != anchor.hash:
            reason = (
                f"the trail ends at entry {w.expected - 1}: entries were removed or the trail was rebuilt"
                if anchor.seq >= w.expected
                else "the trail was rewritten before this point (hashes differ)"
            )
            what = f"saved head {anchor.hash[:12]} does not match: {reason}"
            add(Finding("audit_log", str(anchor.seq), what, anchor.at, anchor.seq), anchor.at, anchor.seq)

    n_rows = 0
    for table, when in AUDITED.items():
        tt = _table(table)
        for row in conn.execute(select(tt)).mappings():
            n_rows += 1
            entry = latest.pop((table, row["id"]), None)
            at = row[when]
            if entry is None:
                add(Finding(table, row["id"], "is not in the audit trail (written outside the station)", at), at, None)
                continue
            changes = _diff(json.loads(entry.content), canonical_row(table, dict(row)))
            if changes:
                add(
                    Finding(table, row["id"], "changed outside the station: " + "; ".join(changes), at, entry.seq),
                    at,
                    entry.seq,
                )
    for (table, row_id), entry in latest.items():
        content = json.loads(entry.content)
        stamp = content.get(AUDITED.get(table, ""), None)
        at = _parse_time(stamp) if isinstance(stamp, str) else entry.created_at
        add(Finding(table, row_id, "was deleted (its audit entry remains)", at, entry.seq), at, entry.seq)

    findings.sort(key=lambda f: (f[0], f[1]))
    return VerifyReport(
        entries=n_entries,
        rows=n_rows,
        head=head,
        findings=tuple(f for _, _, f in findings),
        anchors_checked=len(anchors),
        sealed_rows=sealed,
    )
