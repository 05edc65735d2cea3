"""Signed changes (#10): an engineer signs recipe / threshold / model / golden-part changes with the PIN;
the signature is chained and the new recipe version names it; a station without PINs stores them unsigned."""

from __future__ import annotations

import sqlite3

import pytest

from inspector.store import open_store
from inspector.store.accounts import LoginError, PermissionDenied
from inspector.store.changes import (
    SignatureRequired,
    Signer,
    UnsignedRecipe,
    describe_change,
    record_recipe_change,
    require_signed,
    version_signature,
)

ADMIN_PIN, ENG_PIN, OP_PIN = "482913", "739164", "615208"
BODY = {"name": "bracket", "threshold": 0.41, "model": "dinov2-small", "references": ["/a.png"]}


@pytest.fixture
def station(tmp_path):
    """A station with roles on: admin 'ada', engineer 'eve', operator 'olf'."""
    store = open_store(tmp_path / "inspector.db")
    accounts = store.accounts
    accounts.add_operator("ada", role="admin", pin=ADMIN_PIN)
    accounts.set_policy(require_pin=True, roles=True, by="ada", pin=ADMIN_PIN)
    accounts.add_operator("eve", role="engineer", pin=ENG_PIN, by="ada", by_pin=ADMIN_PIN)
    accounts.add_operator("olf", role="operator", pin=OP_PIN, by="ada", by_pin=ADMIN_PIN)
    yield store
    store.close()


def test_what_changed_and_which_actions_it_needs():
    new = {**BODY, "threshold": 0.44, "calibration": {"n_good": 8}}
    text, actions = describe_change(BODY, new)
    assert text == "calibration; threshold 0.41 -> 0.44" and actions == ("threshold",)
    text, actions = describe_change(BODY, {**BODY, "model": "dinov2-base", "references": ["/a.png", "/b.png"]})
    assert text == 'model "dinov2-small" -> "dinov2-base"; references 1 -> 2 entries'
    assert actions == ("model", "recipe")
    assert describe_change(None, BODY) == ("new recipe", ("recipe", "threshold", "model"))


def test_an_engineer_signs_and_the_version_and_the_chain_name_the_signature(station):
    first = record_recipe_change(station, "bracket", BODY, Signer("eve", ENG_PIN, reason="first set-up"))
    change = record_recipe_change(
        station, "bracket", {**BODY, "threshold": 0.44}, Signer("eve", ENG_PIN, reason="lot 17 recalibrated")
    )
    assert first.version.version == 1 and change.version.version == 2 and change.new_version
    signature = version_signature(station, change.version)
    assert signature is not None and signature.id == change.version.signature_id
    assert (signature.operator, signature.role, signature.meaning) == ("eve", "engineer", "approved")
    assert signature.subject_sha256 == change.version.body_sha256
    assert signature.changes == "threshold 0.41 -> 0.44" and signature.reason == "lot 17 recalibrated"
    assert signature.action == "threshold" and signature.subject_id == change.version.id
    report = station.verify_audit()
    assert report.ok, report.summary()
    with sqlite3.connect(station.db.path) as raw:
        chained = raw.execute(
            "SELECT content FROM audit_log WHERE table_name='signatures' AND row_id=?", (signature.id,)
        ).fetchone()
        assert chained is not None and '"role":"engineer"' in chained[0] and change.version.body_sha256 in chained[0]
        version_entry = raw.execute(
            "SELECT content FROM audit_log WHERE table_name='recipe_versions' AND row_id=?", (change.version.id,)
        ).fetchone()
        assert signature.id in version_entry[0]  # the version names its signature inside the chain
        # editing who signed is caught by verify
        raw.execute("DROP TRIGGER signatures_append_only_update")
        raw.execute("UPDATE signatures SET role='admin' WHERE id=?", (signature.id,))
    broken = station.verify_audit()
    assert not broken.ok and "signatures" in broken.summary() and "engineer" in broken.summary()


def test_an_operator_without_the_engineer_role_is_refused_and_nothing_is_stored(station):
    with pytest.raises(PermissionDenied, match=r"olf \(operator\) may not change recipes.*engineer role"):
        record_recipe_change(station, "bracket", BODY, Signer("olf", OP_PIN))
    assert station.recipe_versions("bracket") == []
    assert PermissionDenied.exit_code == 2


def test_a_wrong_pin_is_refused_and_counted_toward_the_lock_out(station):
    for attempt in (1, 2):
        with pytest.raises(LoginError, match="Wrong PIN for eve"):
            record_recipe_change(station, "bracket", BODY, Signer("eve", "000000"))
        assert station.accounts.get("eve").failed_logins == attempt
    assert station.recipe_versions("bracket") == []


def test_no_signer_on_a_pin_station_is_refused_and_a_hand_edited_recipe_cannot_run(station):
    with pytest.raises(SignatureRequired, match="must be signed"):
        record_recipe_change(station, "bracket", BODY, None)
    record_recipe_change(station, "bracket", BODY, Signer("eve", ENG_PIN))
    require_signed(station, "bracket", BODY)  # the signed body runs
    with pytest.raises(UnsignedRecipe, match="inspector recipe sign /r.json --operator"):
        require_signed(station, "bracket", {**BODY, "threshold": 0.01}, "/r.json")  # edited by hand


def test_a_station_without_pins_stores_changes_unsigned_and_says_so(tmp_path):
    with open_store(tmp_path / "inspector.db") as store:
        change = record_recipe_change(store, "bracket", BODY, None)
        assert change.signature is None and change.version.signature_id is None
        assert "UNSIGNED" in change.describe()
        require_signed(store, "bracket", {**BODY, "threshold": 0.3})  # no PINs: runs are not refused
        # an unsigned version can be signed later, by someone with a PIN
        store.accounts.add_operator("eve", role="engineer", pin=ENG_PIN)
        signed = record_recipe_change(store, "bracket", BODY, Signer("eve", ENG_PIN))
        assert not signed.new_version and signed.version.version == 1
        assert version_signature(store, signed.version).operator == "eve"
        assert store.verify_audit().ok
