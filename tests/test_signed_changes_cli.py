"""Signed changes on the command line (#10): ``recipe calibrate``, ``recipe save``, ``golden add`` and
``run`` on a station with roles on; the signature shows in ``recipe versions`` and ``audit verify``."""

from __future__ import annotations

import json

import pytest

from inspector.cli import main
from inspector.core.recipe import Recipe, save_recipe
from inspector.store import open_store
from tests.helpers import write_parts, write_reference

ADMIN_PIN, ENG_PIN, OP_PIN = "482913", "739164", "615208"


@pytest.fixture
def station(tmp_path, tiny_registry):
    refs = [str(write_reference(tmp_path / f"ref{i}.png", size=(96 + 8 * i, 80))) for i in range(2)]
    write_parts(tmp_path / "parts", 2)
    recipe = tmp_path / "recipe.json"
    save_recipe(
        Recipe(name="bracket", detector="anomalydino", model="tiny-dino", references=tuple(refs),
               detector_params={"resolution": 56}),
        recipe,
    )  # fmt: skip
    db = tmp_path / "inspector.db"
    with open_store(db) as store:
        accounts = store.accounts
        accounts.add_operator("ada", role="admin", pin=ADMIN_PIN)
        accounts.set_policy(require_pin=True, roles=True, by="ada", pin=ADMIN_PIN)
        accounts.add_operator("eve", role="engineer", pin=ENG_PIN, by="ada", by_pin=ADMIN_PIN)
        accounts.add_operator("olf", role="operator", pin=OP_PIN, by="ada", by_pin=ADMIN_PIN)
    return recipe, tmp_path / "parts", str(db)


def _calibrate(recipe, db, *extra):
    return main(["recipe", "calibrate", str(recipe), "--random-weights", "--device", "cpu", "--db", db, *extra])


def test_calibrate_needs_an_engineers_signature(station, capsys, monkeypatch):
    recipe, parts, db = station
    before = recipe.read_text()
    assert _calibrate(recipe, db) == 2  # no --operator on a PIN station
    assert "must be signed" in capsys.readouterr().err and recipe.read_text() == before

    monkeypatch.setenv("INSPECTOR_PIN", OP_PIN)
    assert _calibrate(recipe, db, "--operator", "olf") == 2
    assert "olf (operator) may not change thresholds: that needs the engineer role" in capsys.readouterr().err

    monkeypatch.setenv("INSPECTOR_PIN", "000000")
    assert _calibrate(recipe, db, "--operator", "eve") == 2
    assert "Wrong PIN for eve" in capsys.readouterr().err
    with open_store(db) as store:
        assert store.accounts.get("eve").failed_logins == 1 and store.recipe_versions("bracket") == []
    assert recipe.read_text() == before  # refused before anything was scored or written

    monkeypatch.setenv("INSPECTOR_PIN", ENG_PIN)
    assert _calibrate(recipe, db, "--operator", "eve", "--reason", "new lot") == 0
    out = capsys.readouterr().out
    assert "Recorded recipe 'bracket' version 1" in out and "signed by eve (engineer)" in out and "new lot" in out
    assert json.loads(recipe.read_text())["calibration"]["n_good"] == 2
    with open_store(db) as store:
        (version,) = store.recipe_versions("bracket")
        (signature,) = store.accounts.signatures(version.id)
        assert version.signature_id == signature.id and signature.subject_sha256 == version.body_sha256
        assert signature.role == "engineer" and signature.reason == "new lot"
        assert store.accounts.get("eve").failed_logins == 0

    assert main(["recipe", "versions", str(recipe), "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "v1" in listed and "eve (engineer)" in listed and "approved" in listed
    assert main(["audit", "verify", "--db", db]) == 0
    verified = capsys.readouterr().out
    assert "Audit trail verified" in verified and "1 electronic signature(s) in the trail" in verified
    assert f"recipe_versions:{version.id[:8]}: eve (engineer)" in verified and "new lot" in verified

    # the signed recipe runs; one edited by hand is refused until signed again
    monkeypatch.setenv("INSPECTOR_PIN", OP_PIN)
    run = ["run", "--recipe", str(recipe), "--source", str(parts), "--db", db, "--random-weights", "-q",
           "--device", "cpu", "--operator", "olf"]  # fmt: skip
    assert main(run) in (0, 1)
    body = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**body, "threshold": body["threshold"] * 10, "uncertain_band": None}))
    capsys.readouterr()
    assert main(run) == 2
    assert f"inspector recipe sign {recipe} --operator NAME" in capsys.readouterr().err
    monkeypatch.setenv("INSPECTOR_PIN", ENG_PIN)
    assert main(["recipe", "sign", str(recipe), "--operator", "eve", "--db", db]) == 0
    assert "threshold" in capsys.readouterr().out
    monkeypatch.setenv("INSPECTOR_PIN", OP_PIN)
    assert main(run) in (0, 1)


def test_golden_parts_need_an_engineers_signature(station, capsys, monkeypatch):
    recipe, parts, db = station
    ref = recipe.parent / "ref0.png"
    add = ["golden", "add", str(recipe), str(ref), "--expect", "good", "--db", db]
    assert main(add) == 2 and "must be signed" in capsys.readouterr().err
    monkeypatch.setenv("INSPECTOR_PIN", OP_PIN)
    assert main([*add, "--operator", "olf"]) == 2
    assert "may not change recipes" in capsys.readouterr().err
    monkeypatch.setenv("INSPECTOR_PIN", ENG_PIN)
    assert main([*add, "--operator", "eve"]) == 0 and "signed by eve" in capsys.readouterr().out
    with open_store(db) as store:
        (part,) = store.golden.parts("bracket")
        (signature,) = store.accounts.signatures(part.id)
        assert part.signature_id == signature.id and signature.action == "golden" and "ref0.png" in signature.changes
