"""Store errors, written for the operator or engineer who reads them, and their translation.

Database drivers raise errors that name SQLite result codes; :func:`translate_error` turns them
into one of the classes below with a message that says what happened and what to do.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from sqlalchemy import exc as sa_exc

from inspector.errors import InspectorError


class StoreError(InspectorError):
    """The inspection database or its artifact files cannot be used."""

    exit_code = 5


class SchemaTooNewError(StoreError):
    """The database was written by a newer station; it is left untouched."""

    exit_code = 2


class DatabaseLockedError(StoreError):
    """Another program held the database for longer than the busy timeout."""


class ReadOnlyError(StoreError):
    """The database, its folder or the artifact folder cannot be written."""


class DiskFullError(StoreError):
    """No space left where the database or the artifact files live."""


class DatabaseCorruptError(StoreError):
    """The file is damaged, or it is not an Inspector database at all."""


class ServerUnreachableError(StoreError):
    """A database server that cannot be reached, or that refused this station's login."""


class DatabaseReplacedError(StoreError):
    """The database file was deleted, moved or replaced while the station was writing to it."""


class NotFoundError(StoreError):
    """An inspection, run or recipe version that is not in the database."""


# SQLite primary result codes (https://sqlite.org/rescode.html).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_ENOSPC = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_EREADONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def locked_message(where: str, timeout_s: float) -> str:
    return (
        f"The inspection database {where} is in use by another program (another Inspector window, "
        f"a backup tool or a database browser) and stayed locked for {timeout_s:g} s. "
        "Close the other program and try again; nothing was written."
    )


def readonly_message(where: str) -> str:
    return (
        f"Cannot write to {where}: the location is read-only or this user lacks permission. "
        "Choose a writable data folder (set INSPECTOR_DATA_DIR) or ask an administrator to fix the "
        "permissions."
    )


def full_message(where: str) -> str:
    return (
        f"The disk holding {where} is full: the latest results were NOT stored. "
        "Free some space (or move the data folder to a larger disk) and try again."
    )


def corrupt_message(where: str, detail: str) -> str:
    return (
        f"{where} is damaged or is not an Inspector database ({detail}). Nothing was changed. "
        "Restore it from a backup, or move it aside and Inspector will start a new database."
    )


def translate_error(error: BaseException, where: str | Path, busy_timeout_s: float) -> StoreError:
    """A :class:`StoreError` with a plain message for a driver, SQLAlchemy or OS error."""
    where = str(where)
    if isinstance(error, StoreError):
        return error
    orig = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    if isinstance(orig, OSError):
        if orig.errno in _ENOSPC:
            return DiskFullError(full_message(where))
        if orig.errno in _EREADONLY:
            return ReadOnlyError(readonly_message(where))
        return StoreError(f"Cannot use {where}: {orig.strerror or orig}.")
    if isinstance(orig, sqlite3.Error):
        code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF
        text = str(orig)
        if code in (_BUSY, _LOCKED) or "database is locked" in text:
            return DatabaseLockedError(locked_message(where, busy_timeout_s))
        if code == _READONLY or "readonly database" in text:
            return ReadOnlyError(readonly_message(where))
        if code == _FULL or "disk is full" in text:
            return DiskFullError(full_message(where))
        if code in (_CORRUPT, _NOTADB) or "not a database" in text or "malformed" in text:
            return DatabaseCorruptError(corrupt_message(where, f"SQLite: {text}"))
        if code == _CANTOPEN:
            return ReadOnlyError(f"Cannot open {where} ({text}): the folder is missing, read-only or not accessible.")
        if code == _IOERR:
            return StoreError(f"A disk error stopped the inspection database {where} ({text}).")
        if isinstance(orig, sqlite3.IntegrityError):
            return StoreError(f"The inspection database {where} refused a change: {text}.")
        return StoreError(f"The inspection database {where} reported an error: {text}.")
    # Other drivers (PostgreSQL) carry an SQLSTATE: map the common operational ones.
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    text = str(orig)
    if sqlstate in ("28P01", "28000") or "password authentication failed" in text:
        return ServerUnreachableError(
            f"The database server {where} refused the user name or password. Check the user and password "
            "in the database URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)."
        )
    if sqlstate == "3D000" or ("database" in text and "does not exist" in text):
        return ServerUnreachableError(
            f"The database named in {where} does not exist on that server; ask the administrator to create it."
        )
    if sqlstate is None and isinstance(error, sa_exc.OperationalError) and "connect" in text.lower():
        detail = " ".join(text.split()) or "no answer"
        return ServerUnreachableError(
            f"Cannot reach the database server {where} ({detail}). Check the host and port, the network "
            "and that the server is running."
        )
    if sqlstate in ("57P01", "57P02", "57P03", "08000", "08003", "08006"):
        return ServerUnreachableError(
            f"The database server {where} went away or is shutting down ({str(orig).strip()}); it will be retried."
        )
    if sqlstate == "53100":
        return DiskFullError(full_message(where))
    if sqlstate in ("55P03", "40P01"):
        return DatabaseLockedError(locked_message(where, busy_timeout_s))
    if sqlstate == "25006":
        return ReadOnlyError(readonly_message(where))
    return StoreError(f"The inspection database {where} reported an error: {orig}.")
