"""A schema-1 database, built by hand as a released station wrote it, is migrated without loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inspector.store import SCHEMA_VERSION, CaptionStatus, Verdict, open_store
from inspector.store.migrations import MIGRATIONS, steps_from

from .conftest import content_hash, make_items

# Schema version 1, frozen: what the first station release created. Do not edit.
V1_SCHEMA = """
CREATE TABLE schema_info (id INTEGER NOT NULL, version INTEGER NOT NULL, app_version VARCHAR(40) NOT NULL,
    created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, CONSTRAINT pk_schema_info PRIMARY KEY (id));
CREATE TABLE operators (id VARCHAR(36) NOT NULL, name VARCHAR(120) NOT NULL, created_at DATETIME NOT NULL,
    CONSTRAINT pk_operators PRIMARY KEY (id), CONSTRAINT uq_operators_name UNIQUE (name));
CREATE TABLE recipes (id VARCHAR(36) NOT NULL, name VARCHAR(200) NOT NULL, created_at DATETIME NOT NULL,
    CONSTRAINT pk_recipes PRIMARY KEY (id), CONSTRAINT uq_recipes_name UNIQUE (name));
CREATE TABLE recipe_versions (id VARCHAR(36) NOT NULL, recipe_id VARCHAR(36) NOT NULL,
    version INTEGER NOT NULL, body JSON NOT NULL, body_sha256 VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL,
    CONSTRAINT pk_recipe_versions PRIMARY KEY (id),
    CONSTRAINT uq_recipe_versions_recipe_id_version UNIQUE (recipe_id, version),
    CONSTRAINT fk_recipe_versions_recipe_id_recipes FOREIGN KEY(recipe_id) REFERENCES recipes (id));
CREATE TABLE runs (id VARCHAR(36) NOT NULL, started_at DATETIME NOT NULL, ended_at DATETIME,
    operator_id VARCHAR(36), recipe_version_id VARCHAR(36), source VARCHAR(1000) NOT NULL, label VARCHAR(200),
    lot VARCHAR(200), station VARCHAR(200), n_pass INTEGER DEFAULT 0 NOT NULL,
    n_fail INTEGER DEFAULT 0 NOT NULL,
    n_uncertain INTEGER DEFAULT 0 NOT NULL, n_duplicate INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT pk_runs PRIMARY KEY (id),
    CONSTRAINT fk_runs_operator_id_operators FOREIGN KEY(operator_id) REFERENCES operators (id),
    CONSTRAINT fk_runs_recipe_version_id_recipe_versions FOREIGN KEY(recipe_version_id)
        REFERENCES recipe_versions (id));
CREATE INDEX ix_runs_started_at ON runs (started_at);
CREATE TABLE inspections (id VARCHAR(36) NOT NULL, run_id VARCHAR(36), station VARCHAR(200),
    source VARCHAR(1000) NOT NULL, file_path TEXT, content_hash VARCHAR(64) NOT NULL,
    inspected_at DATETIME NOT NULL, recipe_version_id VARCHAR(36) NOT NULL, detector VARCHAR(100) NOT NULL,
    model_id VARCHAR(200) NOT NULL, score FLOAT NOT NULL, threshold FLOAT NOT NULL,
    verdict VARCHAR(16) NOT NULL,
    latency_ms FLOAT, random_weights BOOLEAN NOT NULL, image_artifact VARCHAR(100),
    heatmap_artifact VARCHAR(100), thumbnail_artifact VARCHAR(100),
    CONSTRAINT pk_inspections PRIMARY KEY (id),
    CONSTRAINT uq_inspections_content_hash_recipe_version_id UNIQUE (content_hash, recipe_version_id),
    CONSTRAINT fk_inspections_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id),
    CONSTRAINT fk_inspections_recipe_version_id_recipe_versions FOREIGN KEY(recipe_version_id)
        REFERENCES recipe_versions (id),
    CONSTRAINT ck_inspections_verdict CHECK (verdict IN ('pass', 'fail', 'uncertain')));
CREATE INDEX ix_inspections_inspected_at_id ON inspections (inspected_at, id);
CREATE INDEX ix_inspections_verdict_inspected_at ON inspections (verdict, inspected_at);
CREATE INDEX ix_inspections_recipe_version_id_inspected_at ON inspections (recipe_version_id, inspected_at);
CREATE INDEX ix_inspections_run_id_inspected_at ON inspections (run_id, inspected_at);
CREATE TABLE overrides (id VARCHAR(36) NOT NULL, inspection_id VARCHAR(36) NOT NULL, seq INTEGER NOT NULL,
    kind VARCHAR(16) NOT NULL, undoes_id VARCHAR(36), operator_id VARCHAR(36) NOT NULL,
    created_at DATETIME NOT NULL, previous_verdict VARCHAR(16) NOT NULL, new_verdict VARCHAR(16) NOT NULL,
    previous_defect_label VARCHAR(200), defect_label VARCHAR(200), note TEXT,
    CONSTRAINT pk_overrides PRIMARY KEY (id),
    CONSTRAINT uq_overrides_inspection_id_seq UNIQUE (inspection_id, seq),
    CONSTRAINT fk_overrides_inspection_id_inspections FOREIGN KEY(inspection_id) REFERENCES inspections (id)
        ON DELETE RESTRICT,
    CONSTRAINT ck_overrides_override_kind CHECK (kind IN ('override', 'undo')),
    CONSTRAINT fk_overrides_undoes_id_overrides FOREIGN KEY(undoes_id) REFERENCES overrides (id),
    CONSTRAINT fk_overrides_operator_id_operators FOREIGN KEY(operator_id) REFERENCES operators (id),
    CONSTRAINT ck_overrides_previous_verdict CHECK (previous_verdict IN ('pass', 'fail', 'uncertain')),
    CONSTRAINT ck_overrides_new_verdict CHECK (new_verdict IN ('pass', 'fail', 'uncertain')));
CREATE INDEX ix_overrides_created_at ON overrides (created_at);
"""

V1_DATA = f"""
INSERT INTO schema_info VALUES (1, 1, '0.0.9', '2025-01-02 08:00:00.000000', '2025-01-02 08:00:00.000000');
INSERT INTO operators VALUES ('op-1', 'Ana', '2025-01-02 08:00:00.000000');
INSERT INTO recipes VALUES ('rc-1', 'bracket-A', '2025-01-02 08:00:00.000000');
INSERT INTO recipe_versions VALUES ('rv-1', 'rc-1', 1, '{{"threshold": 0.5}}', '{"0" * 64}',
    '2025-01-02 08:00:00.000000');
INSERT INTO runs VALUES ('run-1', '2025-01-02 08:00:00.000000', NULL, 'op-1', 'rv-1', 'folder:/old',
    NULL, NULL, 'st-1', 0, 1, 0, 0);
INSERT INTO inspections VALUES ('in-1', 'run-1', 'st-1', 'folder:/old', '/old/a.png', '{content_hash(0)}',
    '2025-01-02 08:00:01.500000', 'rv-1', 'winclip', 'clip-vit-b-16', 0.91, 0.5, 'fail', 30.0, 0,
    NULL, NULL, NULL);
INSERT INTO overrides VALUES ('ov-1', 'in-1', 1, 'override', NULL, 'op-1', '2025-01-02 09:00:00.000000',
    'fail', 'pass', NULL, NULL, 'false alarm');
"""


def _build_v1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA + V1_DATA)
    con.commit()
    con.close()


def _shape(path: Path) -> dict[str, object]:
    """Tables with their columns (name, type, not null, default), indexes and triggers."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        shape: dict[str, object] = {
            t: sorted((r[1], r[2], r[3], r[4]) for r in con.execute(f"PRAGMA table_info({t})")) for t in tables
        }
        shape["unique"] = sorted(
            (t, tuple(c[2] for c in con.execute(f"PRAGMA index_info('{ix[1]}')")))
            for t in tables
            for ix in con.execute(f"PRAGMA index_list({t})")
            if ix[2] and ix[3] == "u"
        )
        for kind in ("index", "trigger"):
            shape[kind] = sorted(
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = ? AND sql IS NOT NULL", (kind,))
            )
        return shape
    finally:
        con.close()


def test_migrations_form_one_chain_to_the_current_version():
    assert [m.from_version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION))
    assert [m.to_version for m in steps_from(1)][-1] == SCHEMA_VERSION


def test_a_v1_database_is_migrated_keeping_its_records(tmp_path):
    path = tmp_path / "old" / "inspector.db"
    _build_v1(path)
    with open_store(path) as store:
        assert (store.db.migrated_from, store.db.schema_version) == (1, SCHEMA_VERSION)
        rec = store.get("in-1")
        assert (rec.file_path, rec.model_verdict, rec.effective_verdict) == (
            "/old/a.png",
            Verdict.FAIL,
            Verdict.PASS,
        )
        assert rec.inspected_at.isoformat() == "2025-01-02T08:00:01.500000+00:00"
        assert rec.caption is None and rec.caption_status is None
        assert [(o.operator, o.note) for o in store.history("in-1")] == [("Ana", "false alarm")]
        run = store.get_run("run-1")
        assert (run.counts.failed, run.n_skipped) == (1, 0)

        # The new slots work, and the old uniqueness still holds.
        store.set_caption("in-1", status=CaptionStatus.DONE, caption="clean part")
        store.record_skip("/old/b.txt", "not an image", run_id="run-1")
        assert store.get_run("run-1").n_skipped == 1
        again = make_items(1, "rv-1")
        assert store.add_inspections(again).duplicate == (True,)

    backup = store.db.backup_path
    assert backup is not None and backup.exists()
    con = sqlite3.connect(backup)
    assert con.execute("SELECT version FROM schema_info").fetchone() == (1,)
    con.close()


def test_a_migrated_database_has_the_same_shape_as_a_new_one(tmp_path):
    """Fails when a column or index is added to the models without a migration step."""
    old = tmp_path / "old" / "inspector.db"
    new = tmp_path / "new" / "inspector.db"
    _build_v1(old)
    open_store(old).close()
    open_store(new).close()
    assert _shape(old) == _shape(new)


def test_a_migrated_database_opens_again_without_migrating(tmp_path):
    path = tmp_path / "old" / "inspector.db"
    _build_v1(path)
    open_store(path).close()
    with open_store(path) as store:
        assert store.db.migrated_from is None and store.get("in-1").effective_verdict == Verdict.PASS


def test_a_v1_database_gets_fingerprint_keys_and_keeps_its_audit_trail(tmp_path):
    """Schema 5 rebuilt ``inspections``: old rows are "unrecorded", the same part is scored again by
    recorded weights, and the override trail still points at its inspection (and stays guarded)."""
    import dataclasses

    import pytest

    path = tmp_path / "old" / "inspector.db"
    _build_v1(path)
    with open_store(path) as store:
        rec = store.get("in-1")
        assert rec.model_fingerprint == "" and rec.short_fingerprint == "unrecorded"
        real = [dataclasses.replace(i, model_fingerprint="sha256:" + "1" * 64) for i in make_items(1, "rv-1")]
        assert store.add_inspections(real).duplicate == (False,)
        assert store.count() == 2
        assert [o.note for o in store.history("in-1")] == ["false alarm"]
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("DELETE FROM inspections WHERE id = 'in-1'")  # the override still references it
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE overrides SET note = 'x'")
    con.close()
