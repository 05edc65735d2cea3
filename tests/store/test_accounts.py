"""Operators, PINs, roles and signatures in the database (inside the audit trail)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from inspector.core import pins
from inspector.store import open_store
from inspector.store.accounts import LoginError, PermissionDenied, lockout_for


def test_with_pins_off_a_name_is_enough(store):
    assert store.accounts.policy().require_pin is False
    who = store.accounts.log_in("  ana  ")
    assert who.name == "ana" and who.role == "operator" and not who.has_pin
    assert store.verify_audit().ok


def test_pins_are_scrypt_with_a_16_byte_salt_and_legacy_hashes_still_work():
    stored = pins.hash_pin("482913")
    kind, n, r, p, salt, digest = stored.split("$")
    assert kind == "scrypt" and len(bytes.fromhex(salt)) == 16 and int(n) * int(r) * int(p) >= 2**14 * 8 * 5
    assert pins.verify_pin("482913", stored) and not pins.verify_pin("482914", stored)
    salt8 = "00" * 8
    legacy = f"{salt8}${hashlib.pbkdf2_hmac('sha256', b'1234', bytes.fromhex(salt8), 120_000).hex()}"
    assert pins.verify_pin("1234", legacy) and pins.needs_rehash(legacy) and not pins.needs_rehash(stored)
    assert pins.pin_problem("12a456", 6) and pins.pin_problem("48291", 6) and pins.pin_problem("111111", 6)
    assert pins.pin_problem("482913", 6) is None


def test_wrong_pins_lock_out_with_back_off_and_a_restart_does_not_reset_it(db_path, store):
    accounts = store.accounts
    accounts.add_operator("ana", pin="4829")
    accounts.set_policy(require_pin=True)
    with pytest.raises(LoginError, match="no PIN|Wrong PIN"):
        accounts.log_in("ana", "")
    assert accounts.log_in("ana", "4829").name == "ana"
    for _ in range(3):
        with pytest.raises(LoginError, match="Wrong PIN"):
            accounts.log_in("ana", "0000")
    store.close()
    with open_store(db_path) as again:  # a restart
        with pytest.raises(LoginError, match="Too many wrong PINs"):
            again.accounts.log_in("ana", "4829")  # even the right PIN waits
        assert again.accounts.get("ana").failed_logins == 3
        assert again.verify_audit().ok  # the lock-out state is outside the audited content
    assert lockout_for(2) is None and lockout_for(3) < lockout_for(4) < lockout_for(5)
    assert lockout_for(100).total_seconds() == 3600
    con = sqlite3.connect(db_path)  # the lock has run out
    con.execute("UPDATE operators SET locked_until = '2000-01-01 00:00:00.000000' WHERE name = 'ana'")
    con.commit()
    con.close()
    with open_store(db_path) as again:
        assert again.accounts.log_in("ana", "4829").failed_logins == 0


def test_roles_need_an_admin_and_are_enforced(store):
    accounts = store.accounts
    with pytest.raises(PermissionDenied, match="admin with a PIN"):
        accounts.set_policy(roles=True)
    accounts.add_operator("ana", role="admin", pin="482913")
    accounts.add_operator("eve", role="engineer")
    accounts.add_operator("bob")
    policy = accounts.set_policy(roles=True, by="ana")
    assert policy.roles and policy.require_pin and policy.min_pin_length == 6
    with pytest.raises(LoginError, match="no PIN"):
        accounts.add_operator("carl", by="bob", by_pin="")
    with pytest.raises(Exception, match="at least 6"):
        accounts.add_operator("bob", pin="4829")  # bob chooses his own first PIN: too short
    accounts.add_operator("bob", pin="739104")
    assert accounts.log_in("bob", "739104").role == "operator"
    accounts.require("bob", "review")
    with pytest.raises(PermissionDenied, match="engineer"):
        accounts.require("bob", "thresholds")
    accounts.require("eve", "thresholds")
    with pytest.raises(PermissionDenied):
        accounts.require("eve", "operators")
    with pytest.raises(PermissionDenied):
        accounts.add_operator("bob", role="admin", by="bob", by_pin="739104")  # no self-promotion
    assert store.verify_audit().ok


def test_a_signature_needs_the_pin_again_and_is_in_the_trail(store, recipe):
    accounts = store.accounts
    accounts.add_operator("eve", role="engineer", pin="560317")
    with pytest.raises(LoginError, match="Wrong PIN"):
        accounts.sign("eve", "000000", meaning="approved", action="threshold", subject_table="recipe_versions",
                      subject_id=recipe.id)  # fmt: skip
    signed = accounts.sign(
        "eve", "560317", meaning="approved", action="threshold", subject_table="recipe_versions",
        subject_id=recipe.id, reason="new supplier lot",
    )  # fmt: skip
    assert [s.id for s in accounts.signatures(recipe.id)] == [signed.id]
    assert signed.operator == "eve" and signed.reason == "new supplier lot"
    assert store.verify_audit().ok


def test_settings_file_pins_move_into_the_database_once_and_are_rehashed(store):
    salt = "11" * 8
    legacy = {"ana": f"{salt}${hashlib.pbkdf2_hmac('sha256', b'2468', bytes.fromhex(salt), 120_000).hex()}"}
    accounts = store.accounts
    assert accounts.import_legacy_pins(legacy) == 1
    assert accounts.import_legacy_pins(legacy) == 0  # once
    accounts.set_policy(require_pin=True, by="ana", pin="2468")
    assert accounts.log_in("ana", "2468").has_pin
    with store.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT pin_hash FROM operators WHERE name = 'ana'").scalar()
    assert stored.startswith("scrypt$")
    assert store.verify_audit().ok
