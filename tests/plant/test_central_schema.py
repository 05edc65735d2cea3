"""The store's schema and migrations on PostgreSQL, and the server errors as plain messages."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from inspector.store import SCHEMA_VERSION, ServerUnreachableError, open_store
from inspector.store.errors import DiskFullError, translate_error
from inspector.store.migrations import MIGRATIONS


def _triggers(conn) -> set[str]:
    rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'overrides'::regclass"))
    return set(rows.scalars())


def _constraints(conn) -> set[str]:
    return set(conn.execute(text("SELECT conname FROM pg_constraint")).scalars())


@pytest.mark.postgres
def test_new_and_migrated_postgresql_databases_have_the_central_rules(central_url, tmp_path):
    store = open_store(central_url)
    with store.db.read() as conn:
        assert {"overrides_append_only", "overrides_no_truncate"} <= _triggers(conn)
        assert "uq_operators_name" not in _constraints(conn)
    # Take it back to what schema 2 made on PostgreSQL, then run the step to schema 3 on it.
    with store.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER overrides_append_only ON overrides"))
        conn.execute(text("DROP TRIGGER overrides_no_truncate ON overrides"))
        conn.execute(text("ALTER TABLE operators ADD CONSTRAINT uq_operators_name UNIQUE (name)"))
        conn.execute(text("ALTER TABLE recipes ADD CONSTRAINT uq_recipes_name UNIQUE (name)"))
    step = next(m for m in MIGRATIONS if m.from_version == 2)
    with store.db.write() as conn:
        step.apply(conn)
    with store.db.read() as conn:
        assert {"overrides_append_only", "overrides_no_truncate"} <= _triggers(conn)
        assert not {"uq_operators_name", "uq_recipes_name"} & _constraints(conn)
        assert conn.execute(text("SELECT version FROM schema_info")).scalar_one() == SCHEMA_VERSION
    # Schema 7: inspection records kept on PostgreSQL too.
    with store.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER inspections_keep ON inspections"))
    keep = next(m for m in MIGRATIONS if m.from_version == 6)
    with store.db.write() as conn:
        keep.apply(conn)
        rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'inspections'::regclass"))
        assert {"inspections_keep", "inspections_no_truncate"} <= set(rows.scalars())
    store.close()
    # And the same step leaves an SQLite station database as it was (its guards are the engine's).
    local = open_store(tmp_path / "st" / "inspector.db")
    with local.db.write() as conn:
        step.apply(conn)
        names = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    assert {"overrides_append_only_update", "overrides_append_only_delete"} <= names
    local.close()


def test_full_central_disk_is_a_plain_message():
    orig = psycopg.errors.DiskFull("could not extend file: No space left on device")
    error = translate_error(sa_exc.OperationalError("INSERT ...", {}, orig), "postgresql://plant/inspector", 5)
    assert isinstance(error, DiskFullError) and "is full" in str(error)


@pytest.mark.postgres
def test_wrong_password_is_a_plain_message(postgres):
    with pytest.raises(ServerUnreachableError, match="refused the user name or password"):
        open_store(postgres.pg_url(password="wrong"))


@pytest.mark.postgres
def test_caption_corrections_are_append_only_on_postgresql(central_url):
    """Schema 10 on the central database: corrections are kept like the override trail, and audited."""
    from tests.store.conftest import make_items

    store = open_store(central_url)
    try:
        recipe = store.save_recipe_version("bracket-A", {"object_name": "bracket"})
        item = make_items(1, recipe.id)[0]
        store.add_inspections([item])
        store.correct_caption(item.id, "ana", "pitting on the third thread")
        assert store.get(item.id).effective_caption == "pitting on the third thread"
        assert store.verify_audit().ok
        for sql in ("UPDATE caption_corrections SET caption = 'x'", "DELETE FROM caption_corrections"):
            with pytest.raises(sa_exc.DBAPIError, match="append-only"), store.db.engine.begin() as conn:
                conn.execute(text(sql))
        # the step on a database where the table exists already (re-run on a shared database)
        step = next(m for m in MIGRATIONS if m.from_version == 9)
        with store.db.write() as conn:
            step.apply(conn)
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'caption_corrections'::regclass"))
            assert {"caption_corrections_append_only", "caption_corrections_no_truncate"} <= set(rows.scalars())
    finally:
        store.close()
