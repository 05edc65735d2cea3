"""Operators, their PINs and roles, the station's log-in policy and electronic signatures.

All of it lives in the database, inside the audit trail (``inspector.store.audit``): a settings
file anyone can edit no longer decides who is who. PINs are hashed with scrypt
(``inspector.core.pins``). Repeated wrong PINs lock the operator out with a growing delay, kept
in the database so that a restart does not reset it.

Roles are optional (:attr:`Policy.roles`): ``operator`` reviews parts; ``engineer`` also changes
recipes, thresholds and models; ``admin`` also manages operators and the policy. With roles off
everyone may do everything, and with PINs off a name is enough to log in (as before).

Example::

    accounts = store.accounts
    accounts.add_operator("ana", role="admin", pin="482913")
    accounts.set_policy(require_pin=True, roles=True, by="ana", pin="482913")
    who = accounts.log_in("ana", "482913")
    accounts.require(who.name, "recipes")  # PermissionDenied for an operator
    accounts.sign("ana", "482913", meaning="approved", action="threshold",
                  subject_table="recipe_versions", subject_id=version.id, reason="new lot")
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from inspector.core import pins
from inspector.store.domain import new_id, utc_now
from inspector.store.errors import StoreError
from inspector.store.models import Operator, Signature, StationPolicy

if TYPE_CHECKING:
    from inspector.store.repository import InspectionStore

ROLES = ("operator", "engineer", "admin")
#: What each permission needs (roles are ordered: a higher role may do what a lower one may).
PERMISSIONS = {"review": "operator", "recipes": "engineer", "thresholds": "engineer", "models": "engineer",
               "operators": "admin"}  # fmt: skip
MEANINGS = ("authored", "reviewed", "approved", "responsible")
MAX_FREE_TRIES = 3  # wrong PINs before the first lock-out
LOCKOUT_BASE = timedelta(seconds=30)  # doubled with every further wrong PIN
LOCKOUT_MAX = timedelta(hours=1)


class LoginError(StoreError):
    """A log-in or signature was refused (wrong PIN, locked out, no PIN yet...)."""

    exit_code = 2  # refused, nothing changed (not a database failure)


class PermissionDenied(StoreError):
    """The operator's role does not allow this."""

    exit_code = 2


@dataclass(frozen=True)
class Policy:
    require_pin: bool = False
    roles: bool = False

    @property
    def min_pin_length(self) -> int:
        return 6 if self.roles else 4


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: str
    has_pin: bool
    locked_until: datetime | None
    failed_logins: int
    disabled: bool


@dataclass(frozen=True)
class SignatureRecord:
    id: str
    operator: str
    signed_at: datetime
    meaning: str
    action: str
    subject_table: str
    subject_id: str
    reason: str | None
    role: str | None = None  # the signer's role when signing (schema 11)
    subject_sha256: str | None = None  # the hash of what was signed (a recipe version's body)
    changes: str | None = None  # what the change was

    def describe(self) -> str:
        """'ana (engineer), 2026-12-01 12:03 UTC, approved: threshold 0.41 -> 0.44 — new lot'"""
        text = f"{self.operator} ({self.role or 'operator'}), {self.signed_at:%Y-%m-%d %H:%M} UTC, {self.meaning}"
        if self.changes:
            text += f": {self.changes}"
        return text + (f" — {self.reason}" if self.reason else "")


def lockout_for(failures: int) -> timedelta | None:
    """How long an operator is locked out after ``failures`` wrong PINs in a row."""
    if failures < MAX_FREE_TRIES:
        return None
    return min(LOCKOUT_BASE * 2 ** min(failures - MAX_FREE_TRIES, 16), LOCKOUT_MAX)


class Accounts:
    """Operators and the log-in policy of one store (``store.accounts``)."""

    def __init__(self, store: InspectionStore) -> None:
        self.store = store
        self.db = store.db

    # -- policy --------------------------------------------------------------------------------
    def policy(self) -> Policy:
        with self.db.read() as conn:
            return self._policy(conn)

    @staticmethod
    def _policy(conn: Connection) -> Policy:
        values: dict[str, Any] = {
            key: value for key, value in conn.execute(select(StationPolicy.id, StationPolicy.value))
        }
        return Policy(require_pin=bool(values.get("require_pin", False)), roles=bool(values.get("roles", False)))

    def set_policy(
        self, *, require_pin: bool | None = None, roles: bool | None = None, by: str | None = None, pin: str = ""
    ) -> Policy:
        """Change the log-in policy. Once PINs or roles are on, only an admin (with the PIN) may
        change it; turning roles on needs an admin who has a PIN."""
        signer = self._authenticate(by or "", pin) if self.policy().require_pin else None
        with self.db.write() as conn:
            current = self._policy(conn)
            who = self._find(conn, signer.name) if signer else self._operator_row(conn, by) if by else None
            if current.roles or current.require_pin:
                if who is None:
                    raise LoginError("Give the name and PIN of an admin to change the log-in policy.")
                self._require(conn, current, who, "operators")
            wanted = Policy(
                require_pin=current.require_pin if require_pin is None else bool(require_pin),
                roles=current.roles if roles is None else bool(roles),
            )
            if wanted.roles and not current.roles:
                admins = conn.execute(
                    select(Operator.id).where(
                        Operator.role == "admin", Operator.pin_hash.is_not(None), Operator.disabled_at.is_(None)
                    )
                ).first()
                if admins is None:
                    raise PermissionDenied("Roles need an admin with a PIN first: add one with role admin and a PIN.")
            if wanted.roles and not wanted.require_pin:
                wanted = Policy(require_pin=True, roles=True)  # roles without PINs would mean nothing
            for key, value in (("require_pin", wanted.require_pin), ("roles", wanted.roles)):
                if getattr(current, key) == value and self._has_rule(conn, key):
                    continue
                values = {"value": value, "updated_at": utc_now(), "updated_by": who.id if who else None}
                if self._has_rule(conn, key):
                    conn.execute(update(StationPolicy).where(StationPolicy.id == key).values(values))
                    self.store._audit(conn, "station_policy", [key], action="update")
                else:
                    conn.execute(insert(StationPolicy).values(id=key, **values))
                    self.store._audit(conn, "station_policy", [key])
            return wanted

    @staticmethod
    def _has_rule(conn: Connection, key: str) -> bool:
        return conn.execute(select(StationPolicy.id).where(StationPolicy.id == key)).first() is not None

    # -- operators -----------------------------------------------------------------------------
    def get(self, name: str) -> Account | None:
        with self.db.read() as conn:
            row = self._find(conn, name)
            return _account(row) if row is not None else None

    def list(self) -> list[Account]:
        with self.db.read() as conn:
            return [_account(r) for r in conn.execute(select(Operator).order_by(Operator.name)).mappings()]

    def add_operator(
        self, name: str, *, role: str | None = None, pin: str | None = None, by: str | None = None, by_pin: str = ""
    ) -> Account:
        """Add ``name`` (or change its role / PIN). With roles on, ``by`` must be an admin (and give
        the PIN); an operator may always choose their own first PIN."""
        if role is not None and role not in ROLES:
            raise StoreError(f"Unknown role '{role}': choose one of {', '.join(ROLES)}.")
        existing = self.get(name)
        own_first_pin = existing is not None and not existing.has_pin and role is None and by in (None, name)
        signer = self._authenticate(by or "", by_pin) if self.policy().roles and not own_first_pin else None
        with self.db.write() as conn:
            policy = self._policy(conn)
            if policy.roles and not own_first_pin:
                if signer is None:
                    raise LoginError("Give the name and PIN of an admin to manage operators.")
                self._require(conn, policy, self._find(conn, signer.name), "operators")
            if pin is not None and (problem := pins.pin_problem(pin, policy.min_pin_length)):
                raise StoreError(problem)
            record = self.store._operator(conn, name)
            values: dict[str, Any] = {}
            if role is not None:
                values["role"] = role
            if pin is not None:
                values.update(pin_hash=pins.hash_pin(pin), pin_set_at=utc_now(), failed_logins=0, locked_until=None)
            if values:
                conn.execute(update(Operator).where(Operator.id == record.id).values(values))
                self.store._audit(conn, "operators", [record.id], action="update")
            return _account(self._find(conn, record.name))

    def import_legacy_pins(self, legacy: dict[str, str]) -> int:
        """Move PIN hashes from an earlier station's settings file into the database (once: an
        operator who already has a PIN here keeps it). Returns how many were moved."""
        moved = 0
        with self.db.write() as conn:
            for name, stored in sorted(legacy.items()):
                if not name.strip() or not stored:
                    continue
                record = self.store._operator(conn, name)
                row = self._find(conn, record.name)
                if row["pin_hash"] is not None:
                    continue
                conn.execute(
                    update(Operator).where(Operator.id == record.id).values(pin_hash=stored, pin_set_at=utc_now())
                )
                self.store._audit(conn, "operators", [record.id], action="legacy-pin")
                moved += 1
        return moved

    # -- log-in, permissions, signatures -------------------------------------------------------
    def log_in(self, name: str, pin: str | None = None) -> Account:
        """Check who is at the station under the current policy; returns the operator.

        Raises:
            LoginError: PINs are required and the PIN is missing, wrong, or the operator is locked
                out (the message says until when) or has no PIN yet.
        """
        with self.db.write() as conn:
            policy = self._policy(conn)
            if not policy.require_pin:
                record = self.store._operator(conn, name)
                row = self._find(conn, record.name)
                if row["disabled_at"] is not None:
                    raise LoginError(f"{record.name} is disabled at this station.")
                return _account(row)
        return self._authenticate(name, pin or "")

    def _authenticate(self, name: str, pin: str) -> Account:
        # the failure count must be committed even though the log-in is refused
        with self.db.write() as conn:
            try:
                row = self._check_pin(conn, name, pin)
            except _WrongPin as wrong:
                error = wrong.error
            else:
                return _account(row)
        raise error

    def _check_pin(self, conn: Connection, name: str, pin: str):
        """The operator row when ``pin`` is right; counts failures and locks out (raises LoginError)."""
        row = self._find(conn, name)
        if row is None:
            if not self._policy(conn).roles and name.strip():  # anyone may enrol, as before roles
                raise LoginError(f"{' '.join(name.split())} has no PIN yet: choose one first.")
            raise LoginError(f"There is no operator called '{name.strip()}' at this station: ask an admin.")
        if row["disabled_at"] is not None:
            raise LoginError(f"{row['name']} is disabled at this station.")
        if row["pin_hash"] is None:
            raise LoginError(f"{row['name']} has no PIN yet: choose one first.")
        now = utc_now()
        if row["locked_until"] is not None and row["locked_until"] > now:
            wait = int((row["locked_until"] - now).total_seconds()) + 1
            raise LoginError(
                f"Too many wrong PINs for {row['name']}: try again in {wait} s "
                f"(at {row['locked_until'].strftime('%H:%M:%S')} UTC), or ask an admin."
            )
        if not pins.verify_pin(pin, row["pin_hash"]):
            failures = int(row["failed_logins"] or 0) + 1
            lock = lockout_for(failures)
            conn.execute(
                update(Operator)
                .where(Operator.id == row["id"])
                .values(failed_logins=failures, locked_until=now + lock if lock else None)
            )
            message = f"Wrong PIN for {row['name']}."
            if lock:
                message += f" Locked for {int(lock.total_seconds())} s after {failures} wrong PINs."
            raise _WrongPin(LoginError(message))
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if pins.needs_rehash(row["pin_hash"]):
            values["pin_hash"] = pins.hash_pin(pin)
        conn.execute(update(Operator).where(Operator.id == row["id"]).values(values))
        if "pin_hash" in values:
            self.store._audit(conn, "operators", [row["id"]], action="rehash")
        return self._find(conn, row["name"])

    def allowed(self, name: str, permission: str) -> bool:
        try:
            self.require(name, permission)
        except PermissionDenied:
            return False
        return True

    def require(self, name: str, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless roles are off or ``name``'s role allows ``permission``."""
        with self.db.read() as conn:
            self._require(conn, self._policy(conn), self._find(conn, name), permission)

    @staticmethod
    def _require(conn: Connection, policy: Policy, row, permission: str) -> None:
        if not policy.roles:
            return
        needed = PERMISSIONS[permission]
        role = (row["role"] if row is not None else None) or "operator"
        if ROLES.index(role) < ROLES.index(needed):
            who = row["name"] if row is not None else "Nobody"
            raise PermissionDenied(f"{who} ({role}) may not change {permission}: that needs the {needed} role.")

    def authorize(self, name: str, pin: str, permissions: Iterable[str] = ()) -> Account:
        """Check ``name``'s PIN (a wrong one counts toward the lock-out) and that the role allows each
        of ``permissions`` (when roles are on). Returns the signer; raises LoginError / PermissionDenied."""
        signer = self._authenticate(name, pin)
        with self.db.read() as conn:
            policy = self._policy(conn)
            row = self._find(conn, signer.name)
            for permission in permissions:
                self._require(conn, policy, row, permission)
        return signer

    def sign(
        self,
        name: str,
        pin: str,
        *,
        meaning: str,
        action: str,
        subject_table: str,
        subject_id: str,
        reason: str | None = None,
        permission: str | None = None,
        subject_sha256: str | None = None,
        changes: str | None = None,
    ) -> SignatureRecord:
        """An electronic signature: ``name`` gives the PIN again; who, when, what it means and why
        are stored (and chained). Needs PINs to be set up for ``name`` whatever the policy."""
        if meaning not in MEANINGS:
            raise StoreError(f"Unknown meaning '{meaning}': choose one of {', '.join(MEANINGS)}.")
        signer = self.authorize(name, pin, [permission] if permission else [])
        with self.db.write() as conn:
            return self.insert_signature(
                conn, signer, meaning=meaning, action=action, subject_table=subject_table, subject_id=subject_id,
                reason=reason, subject_sha256=subject_sha256, changes=changes,
            )  # fmt: skip

    def insert_signature(
        self,
        conn: Connection,
        signer: Account,
        *,
        meaning: str,
        action: str,
        subject_table: str,
        subject_id: str,
        reason: str | None = None,
        subject_sha256: str | None = None,
        changes: str | None = None,
    ) -> SignatureRecord:
        """Store a signature by an already :meth:`authorize`-d signer inside the caller's transaction."""
        if meaning not in MEANINGS:
            raise StoreError(f"Unknown meaning '{meaning}': choose one of {', '.join(MEANINGS)}.")
        row = self._find(conn, signer.name)
        record = SignatureRecord(
            new_id(), row["name"], utc_now(), meaning, action, subject_table, subject_id,
            (reason or "").strip() or None, row["role"] or "operator", subject_sha256, changes,
        )  # fmt: skip
        values = {k: v for k, v in vars(record).items() if k != "operator"}
        conn.execute(insert(Signature).values(operator_id=row["id"], **values))
        self.store._audit(conn, "signatures", [record.id])
        return record

    def signature(self, signature_id: str) -> SignatureRecord | None:
        found = self._signatures(Signature.id == signature_id)
        return found[0] if found else None

    def all_signatures(self) -> builtins.list[SignatureRecord]:
        """Every electronic signature at this station, oldest first."""
        return self._signatures(Signature.id.is_not(None))

    def signatures(self, subject_id: str) -> builtins.list[SignatureRecord]:
        return self._signatures(Signature.subject_id == subject_id)

    def _signatures(self, where) -> builtins.list[SignatureRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(Signature, Operator.name.label("operator"))
                .join(Operator, Operator.id == Signature.operator_id)
                .where(where)
                .order_by(Signature.signed_at)
            ).mappings()
            return [
                SignatureRecord(
                    r["id"],
                    r["operator"],
                    r["signed_at"],
                    r["meaning"],
                    r["action"],
                    r["subject_table"],
                    r["subject_id"],
                    r["reason"],
                    r["role"],
                    r["subject_sha256"],
                    r["changes"],
                )  # fmt: skip
                for r in rows
            ]

    @staticmethod
    def _find(conn: Connection, name: str):
        name = " ".join((name or "").split())
        return conn.execute(select(Operator.__table__).where(Operator.name == name)).mappings().first()

    def _operator_row(self, conn: Connection, name: str):
        return self._find(conn, self.store._operator(conn, name).name)


class _WrongPin(Exception):
    """Carries a LoginError out of a transaction that must still commit (the failure count)."""

    def __init__(self, error: LoginError) -> None:
        self.error = error


def _account(row) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        role=row["role"] or "operator",
        has_pin=row["pin_hash"] is not None,
        locked_until=row["locked_until"],
        failed_logins=int(row["failed_logins"] or 0),
        disabled=row["disabled_at"] is not None,
    )
