"""Opening the inspection database: engine set-up, schema version check and migrations.

The station's database is an SQLite file in the data folder (``<data>/inspector.db``, artifacts in
``<data>/artifacts``). This module is the only place with SQLite-specific SQL (PRAGMAs, triggers);
a PostgreSQL URL is accepted too, for a plant that shares one database between stations.

Durability (the ``durability`` setting): SQLite runs in WAL mode.

- ``normal`` (default, ``synchronous=NORMAL``): a commit has reached the operating system (the WAL
  file) before it returns, so a crash or ``kill -9`` of the station loses nothing that was reported
  as stored, and the file always opens again (SQLite replays the WAL). A *power cut* (or a disk that
  the kernel remounts read-only after an error) may lose every commit since the last checkpoint;
  the file is never corrupted.
- ``full`` (``synchronous=FULL``): the WAL is fsynced at every commit, so a power cut loses nothing
  reported as stored either, at the cost of an fsync per commit (batched by the writer thread).

Identity guard: the open database remembers the device and inode of its file and folder. Before and
after every write transaction they are checked; a file deleted, moved away or replaced while the
station writes to it raises :class:`DatabaseReplacedError` (nothing after that is reported stored).

Write transactions start with ``BEGIN IMMEDIATE``, so a writer waits for the database lock up to the
busy timeout up front instead of failing half-way; readers never wait for writers (WAL).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

import inspector
from inspector.core.paths import data_dir
from inspector.store import audit, migrations
from inspector.store.domain import utc_now
from inspector.store.errors import (
    DatabaseCorruptError,
    DatabaseReplacedError,
    ReadOnlyError,
    SchemaTooNewError,
    StoreError,
    corrupt_message,
    readonly_message,
    translate_error,
)
from inspector.store.models import SCHEMA_VERSION, Base, SchemaInfo

DB_FILENAME = "inspector.db"
ARTIFACTS_DIRNAME = "artifacts"
_SQLITE_HEADER = b"SQLite format 3\x00"
_WRITE = "inspector_write"

#: The ``durability`` setting and the SQLite ``synchronous`` mode it selects.
DURABILITY = {"normal": "NORMAL", "full": "FULL"}

# Append-only audit trail, enforced by the database itself (SQLite below; PostgreSQL's triggers are
# made by ``migrations.postgres_guards``).
APPEND_ONLY_TABLES = ("overrides", "audit_log", "signatures", "caption_corrections")

# The audit trail's rows cannot be changed through SQL on SQLite: name -> (schema version that
# added it, when it fires, message). The hash chain (``audit``) notices what gets past them.
_IMMUTABLE_INSPECTION_COLUMNS = (
    "id, run_id, station, source, file_path, content_hash, inspected_at, recipe_version_id, detector, "
    "model_id, score, threshold, verdict, latency_ms, random_weights, model_fingerprint, model_device, model_dtype"
)
_SQLITE_GUARDS = {
    "overrides_append_only_update": (1, "BEFORE UPDATE ON overrides", "the override audit trail is append-only"),
    "overrides_append_only_delete": (1, "BEFORE DELETE ON overrides", "the override audit trail is append-only"),
    "audit_log_append_only_update": (6, "BEFORE UPDATE ON audit_log", "the audit trail is append-only"),
    "audit_log_append_only_delete": (6, "BEFORE DELETE ON audit_log", "the audit trail is append-only"),
    "signatures_append_only_update": (6, "BEFORE UPDATE ON signatures", "signatures cannot be changed"),
    "signatures_append_only_delete": (6, "BEFORE DELETE ON signatures", "signatures cannot be removed"),
    "caption_corrections_append_only_update": (
        10,
        "BEFORE UPDATE ON caption_corrections",
        "caption corrections are append-only",
    ),
    "caption_corrections_append_only_delete": (
        10,
        "BEFORE DELETE ON caption_corrections",
        "caption corrections are append-only",
    ),
    "inspections_keep_delete": (6, "BEFORE DELETE ON inspections", "inspection records cannot be removed"),
    "inspections_keep_verdict": (
        6,
        f"BEFORE UPDATE OF {_IMMUTABLE_INSPECTION_COLUMNS} ON inspections",
        "an inspection's verdict, score and origin cannot be changed",
    ),
}


@dataclass
class Database:
    """An open inspection database. Thread-safe: each call checks a connection out of a pool."""

    engine: Engine
    where: str  # the file path, or the URL without its password: for messages
    path: Path | None  # None for a server database
    artifacts_dir: Path
    busy_timeout_s: float
    schema_version: int = SCHEMA_VERSION
    migrated_from: int | None = None  # the version found on disk when this open migrated it
    backup_path: Path | None = None  # copy taken before migrating (SQLite)
    durability: str = "normal"
    read_only: bool = False  # opened from a copy of a database that cannot be written (an archive)
    notices: list[str] = field(default_factory=list)  # things the person opening it should be told
    _writer: Engine = field(init=False, repr=False)
    _identity: tuple[tuple[int, int], tuple[int, int]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._writer = self.engine.execution_options(**{_WRITE: True})

    def remember_identity(self) -> None:
        """Note which file (device, inode) and folder this database is; see :meth:`check_identity`."""
        if self.path is not None:
            self._identity = _file_identity(self.path)

    def check_identity(self) -> None:
        """Raise :class:`DatabaseReplacedError` if the file at :attr:`path` is no longer the one opened."""
        if self._identity is None or self.path is None:
            return
        try:
            now = _file_identity(self.path)
        except OSError:
            now = None
        if now != self._identity:
            what = "deleted or moved away" if not self.path.exists() else "replaced by another file"
            raise DatabaseReplacedError(
                f"The inspection database {self.where} was {what} while the station was using it: "
                "results written since then would be lost, so nothing more is stored. Put the database "
                "back (or choose a new data folder) and start again."
            )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def translate(self, error: BaseException) -> StoreError:
        return translate_error(error, self.where, self.busy_timeout_s)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed when the block ends.

        The database file's identity is checked before and after: when the block returns without
        an error, the change was committed *to the database that was opened*.
        """
        self.check_identity()
        try:
            with self._writer.begin() as conn:
                yield conn
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as error:
            raise self.translate(error) from error
        self.check_identity()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot for everything done in the block."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as error:
            raise self.translate(error) from error

    def check_integrity(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` (``["ok"]`` when sound); ``["ok"]`` on a server."""
        if not self.is_sqlite:
            return ["ok"]
        with self.read() as conn:
            return [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]

    def close(self) -> None:
        """Close every pooled connection (the last one folds the WAL back into the file)."""
        self.engine.dispose()
        if self.read_only and self.path is not None:
            shutil.rmtree(self.path.parent, ignore_errors=True)  # the private copy


def default_database_path() -> Path:
    return data_dir() / DB_FILENAME


def open_database(
    target: str | os.PathLike[str] | None = None,
    *,
    busy_timeout_s: float = 5.0,
    durability: str = "normal",
    artifacts_dir: str | os.PathLike[str] | None = None,
    read_only: bool = False,
) -> Database:
    """Open (creating or migrating as needed) the inspection database.

    Args:
        target: an SQLite file path, a SQLAlchemy URL (``postgresql+psycopg://...``), or None for
            ``<data dir>/inspector.db``.
        busy_timeout_s: how long to wait for a database that another program holds locked.
        durability: ``normal`` (safe against crashes and ``kill -9``) or ``full`` (also against power
            cuts: an fsync per commit). See the module doc.
        artifacts_dir: where image copies and heatmaps go; default ``artifacts/`` next to the file.
        read_only: read a database that cannot be written (an archive on read-only media, a disk
            remounted read-only): it is copied (with its WAL) to a private temporary folder and the
            copy is opened, so SQLite can replay the WAL and an older schema can be read.

    Raises:
        SchemaTooNewError: written by a newer station; the file is not modified.
        DatabaseCorruptError, ReadOnlyError, DiskFullError, DatabaseLockedError, StoreError.
    """
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
    text = os.fspath(target) if target is not None else None
    if text is not None and "://" in text:
        url = make_url(text)
        if url.get_backend_name() != "sqlite":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")  # psycopg 3, not SQLAlchemy's default psycopg2
            connect_args = (
                {"connect_timeout": max(1, round(busy_timeout_s))} if url.get_backend_name() == "postgresql" else {}
            )
            engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
            where = url.render_as_string(hide_password=True)
            arts = Path(artifacts_dir) if artifacts_dir else data_dir() / ARTIFACTS_DIRNAME
            db = Database(engine, where, None, arts, busy_timeout_s, durability=durability)
            return _ensure_schema(db, found=None)
        text = url.database
        if not text or text == ":memory:":
            raise ValueError("the inspection store needs a database file, not an in-memory database")
    path = Path(text).expanduser().absolute() if text else default_database_path()
    if read_only:
        return _open_read_only(path, busy_timeout_s, Path(artifacts_dir) if artifacts_dir else None)
    found = _preflight_sqlite(path, busy_timeout_s)
    backup = None
    if found is not None and 0 < found < SCHEMA_VERSION:
        backup = _backup_sqlite(path, found, busy_timeout_s)
    engine = _sqlite_engine(path, busy_timeout_s, DURABILITY[durability])
    arts = Path(artifacts_dir) if artifacts_dir else path.parent / ARTIFACTS_DIRNAME
    db = Database(engine, str(path), path, arts, busy_timeout_s, backup_path=backup, durability=durability)
    if found is None and _holds_files(arts):
        db.notices.append(
            f"A new, empty inspection database was created at {path}, but {arts} already holds "
            "images and heatmaps of earlier inspections: the previous database was deleted or moved. "
            "Restore it from a backup to see those results again."
        )
    try:
        db = _ensure_schema(db, found=found)
        db.remember_identity()
        return db
    except BaseException:
        db.close()
        raise


def _open_read_only(path: Path, busy_timeout_s: float, artifacts_dir: Path | None) -> Database:
    if not path.is_file():
        raise StoreError(f"There is no inspection database at {path}.")
    copy_dir = Path(tempfile.mkdtemp(prefix="inspector-readonly-"))
    try:
        for suffix in ("", "-wal"):
            src = path.with_name(path.name + suffix)
            if src.is_file():
                shutil.copyfile(src, copy_dir / (DB_FILENAME + suffix))
        db = open_database(
            copy_dir / DB_FILENAME,
            busy_timeout_s=busy_timeout_s,
            artifacts_dir=artifacts_dir or path.parent / ARTIFACTS_DIRNAME,
        )
    except BaseException as error:
        shutil.rmtree(copy_dir, ignore_errors=True)
        if isinstance(error, OSError):
            raise translate_error(error, path, busy_timeout_s) from error
        raise
    db.read_only, db.where = True, f"{path} (read-only: read from a copy)"
    db.notices[:] = [f"{path} cannot be written: reading it from a private copy; nothing is changed."]
    return db


def _file_identity(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(device, inode) of the file and of its folder."""
    st, folder = os.stat(path), os.stat(path.parent)
    return (st.st_dev, st.st_ino), (folder.st_dev, folder.st_ino)


def _holds_files(folder: Path) -> bool:
    try:
        return any(entry.is_dir() and any(entry.iterdir()) for entry in folder.iterdir())
    except OSError:
        return False


def _preflight_sqlite(path: Path, busy_timeout_s: float) -> int | None:
    """Check the file before SQLite touches it; return the schema version found (0: empty file).

    Everything here only reads, so a database that is refused stays byte-for-byte the same.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite creates ``-wal`` and ``-shm`` files next to the database: the folder must be writable.
        with tempfile.TemporaryFile(dir=path.parent, prefix=".inspector-probe-"):
            pass
    except OSError as error:
        raise translate_error(error, path.parent, busy_timeout_s) from error
    if not path.exists():
        return None
    if path.is_dir():
        raise StoreError(f"{path} is a folder; the inspection database must be a file.")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise translate_error(error, path, busy_timeout_s) from error
    if not header:
        return 0
    if header != _SQLITE_HEADER:
        raise DatabaseCorruptError(corrupt_message(str(path), "it is not an SQLite database file"))
    if not os.access(path, os.R_OK | os.W_OK):
        raise ReadOnlyError(readonly_message(str(path)))
    uri = f"file:{urllib.parse.quote(str(path))}?mode=rw"  # rw: closing tidies -wal/-shm away
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return 0
            if SchemaInfo.__tablename__ not in tables:
                raise StoreError(
                    f"{path} is an SQLite database of another program, not an Inspector database. "
                    "Nothing was changed; choose another file or data folder."
                )
            row = con.execute("SELECT version, app_version FROM schema_info WHERE id = 1").fetchone()
    except sqlite3.Error as error:
        raise translate_error(error, path, busy_timeout_s) from error
    if row is None:
        raise DatabaseCorruptError(corrupt_message(str(path), "its schema version is missing"))
    _refuse_newer(path, int(row[0]), str(row[1]))
    return int(row[0])


def _refuse_newer(where: str | Path, version: int, app_version: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"{where} was written by a newer Inspector ({app_version}, database schema version "
            f"{version}); this station (Inspector {inspector.__version__}) understands schema version "
            f"{SCHEMA_VERSION} at most. The database was left untouched: update this station, or "
            "choose another data folder."
        )


def _backup_sqlite(path: Path, version: int, busy_timeout_s: float) -> Path:
    """Copy the database aside (SQLite's online backup) before migrating it."""
    backup = path.with_name(f"{path.stem}.schema-v{version}.bak{path.suffix}")
    if backup.exists():
        return backup
    partial = backup.with_name(backup.name + ".partial")
    try:
        with (
            closing(sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            src.backup(dst)
        os.replace(partial, backup)
    except (sqlite3.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        raise translate_error(error, backup, busy_timeout_s) from error
    return backup


def _sqlite_engine(path: Path, busy_timeout_s: float, synchronous: str) -> Engine:
    engine = create_engine(URL.create("sqlite", database=str(path)), connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" hook below emits BEGIN
        cursor = dbapi_connection.cursor()
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{path} cannot use write-ahead logging (journal mode stays {mode!r}); this is "
                    "typical of network drives. Keep the inspection database on a local disk."
                )
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _ensure_schema(db: Database, *, found: int | None) -> Database:
    """Create a new schema, or migrate an older one, in a single transaction."""
    if found == SCHEMA_VERSION and (not db.is_sqlite or _sqlite_guards_present(db)):
        return db  # the common case: nothing to write, so a busy database still opens
    with _schema_write(db) as conn:
        tables = set(inspect(conn).get_table_names())
        existing: set[str] = set()  # the guards as found, before a migration step rebuilds a table
        if db.is_sqlite:
            existing = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
        now = utc_now()
        if SchemaInfo.__tablename__ not in tables:
            if tables:
                raise StoreError(
                    f"{db.where} holds tables of another program, not an Inspector database. "
                    "Nothing was changed; choose another database."
                )
            Base.metadata.create_all(conn)
            conn.execute(
                insert(SchemaInfo).values(
                    id=1,
                    version=SCHEMA_VERSION,
                    app_version=inspector.__version__,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row = conn.execute(select(SchemaInfo.version, SchemaInfo.app_version)).one()
            _refuse_newer(db.where, row.version, row.app_version)
            if row.version < SCHEMA_VERSION:
                for step in migrations.steps_from(row.version):
                    step.apply(conn)
                conn.execute(
                    update(SchemaInfo)
                    .where(SchemaInfo.id == 1)
                    .values(version=SCHEMA_VERSION, app_version=inspector.__version__, updated_at=now)
                )
                db.migrated_from = row.version
            if row.version < migrations.AUDIT_SINCE:
                audit.seal_existing(conn, station=socket.gethostname())
        if not db.is_sqlite and SchemaInfo.__tablename__ not in tables:  # a new shared database
            migrations.postgres_guards(conn, APPEND_ONLY_TABLES)
            migrations.postgres_station_names(conn)
            migrations.postgres_keep_inspections(conn)
        if db.is_sqlite:
            version = found if found is not None else SCHEMA_VERSION
            removed = sorted(n for n, (since, *_) in _SQLITE_GUARDS.items() if since <= version and n not in existing)
            if found and version >= migrations.AUDIT_SINCE and removed:
                # someone dropped the guards (to edit the trail?): recreate them, and say so in the trail
                audit.record_event(conn, audit.GUARDS_RECREATED, {"missing": removed}, station=socket.gethostname())
            for name, (_since, when, message) in _SQLITE_GUARDS.items():
                message = message.replace("'", "''")
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {name} {when} BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
    return db


@contextmanager
def _schema_write(db: Database) -> Iterator[Connection]:
    """The schema's write transaction; on SQLite with foreign-key enforcement off while it runs.

    A migration step may rebuild a table (SQLite cannot change constraints in place), which is only
    possible with enforcement off (SQLite's documented procedure); every key is checked with
    ``PRAGMA foreign_key_check`` before the commit instead, and a violation rolls everything back.
    """
    if not db.is_sqlite:
        with db.write() as conn:
            yield conn
        return
    try:
        with db._writer.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None  # a checked-out connection always has its DB-API connection
            raw.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or SQLite ignores it
            try:
                with conn.begin():
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise DatabaseCorruptError(
                            corrupt_message(db.where, f"{len(broken)} broken references (first in {broken[0][0]})")
                        )
            finally:
                raw.execute("PRAGMA foreign_keys = ON")
    except (sa_exc.DBAPIError, sqlite3.Error, OSError) as error:
        raise db.translate(error) from error


def _sqlite_guards_present(db: Database) -> bool:
    with db.read() as conn:
        names = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    return set(_SQLITE_GUARDS) <= names
