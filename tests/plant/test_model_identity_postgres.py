"""Schema 5 on PostgreSQL: the duplicate key includes the weights' fingerprint, new and migrated."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text

from inspector.store import open_store
from inspector.store.domain import new_id
from tests.store.conftest import make_items


@pytest.mark.postgres
def test_the_same_part_under_other_weights_is_kept_on_postgresql(central_url):
    store = open_store(central_url)
    new, old = (
        "uq_inspections_content_hash_recipe_version_id_model_fingerprint",
        "uq_inspections_content_hash_recipe_version_id",
    )
    with store.db.engine.begin() as conn:  # back to schema 4's key, then migrate again
        conn.execute(text(f"ALTER TABLE inspections DROP CONSTRAINT {new}"))
        conn.execute(text(f"ALTER TABLE inspections ADD CONSTRAINT {old} UNIQUE (content_hash, recipe_version_id)"))
        conn.execute(text("UPDATE schema_info SET version = 4"))
    store.close()
    store = open_store(central_url)
    try:
        assert store.db.migrated_from == 4
        version = store.save_recipe_version("bracket-A", {"threshold": 0.5})
        items = make_items(2, version.id)
        random = [dataclasses.replace(i, model_fingerprint="random:0") for i in items]
        real = [dataclasses.replace(i, model_fingerprint="sha256:" + "2" * 64, id=new_id()) for i in items]
        assert store.add_inspections(random).n_inserted == 2
        assert store.add_inspections(real).n_inserted == 2
        assert store.add_inspections(real).n_duplicates == 2
    finally:
        store.close()
