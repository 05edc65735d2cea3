"""``inspector operators`` and ``run --operator``: the PIN is asked whenever the station requires one."""

from __future__ import annotations

import io

import pytest

from inspector.cli import main


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_PIN", raising=False)
    monkeypatch.setenv("INSPECTOR_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    return str(tmp_path / "station.db")


def _run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_operators_policy_and_run_asks_for_the_pin(db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INSPECTOR_PIN", "482913")
    assert _run(capsys, "operators", "add", "ana", "--role", "admin", "--set-pin", "--db", db)[0] == 0
    code, out, _ = _run(capsys, "operators", "policy", "--roles", "on", "--by", "ana", "--db", db)
    assert code == 0 and "roles enforced: yes" in out and "PINs required: yes" in out
    code, out, _ = _run(capsys, "operators", "list", "--db", db)
    assert "ana" in out and "admin" in out
    (tmp_path / "parts").mkdir()

    run = ("run", "--source", str(tmp_path / "parts"), "--operator", "ana", "--db", db, "-q")
    monkeypatch.setenv("INSPECTOR_PIN", "000000")
    code, _, err = _run(capsys, *run)
    assert code == 2 and "Wrong PIN for ana" in err and "Traceback" not in err

    monkeypatch.delenv("INSPECTOR_PIN")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal, no PIN given
    code, _, err = _run(capsys, *run)
    assert code == 2 and "INSPECTOR_PIN" in err and "--pin-stdin" in err

    monkeypatch.setattr("sys.stdin", io.StringIO("482913\n"))
    code, _, err = _run(capsys, *run, "--pin-stdin")
    assert code == 3 and "PIN" not in err  # past the log-in: stops at the missing weights

    monkeypatch.setenv("INSPECTOR_PIN", "482913")
    code, _, err = _run(capsys, "run", "--source", str(tmp_path / "parts"), "--operator", "mallory", "--db", db)
    assert code == 2 and "no operator called 'mallory'" in err  # roles on: only enrolled operators

    code, out, _ = _run(capsys, "audit", "verify", "--db", db)
    assert code == 0 and "verified" in out


def test_with_pins_off_a_name_is_enough_on_the_command_line(db, tmp_path, capsys, monkeypatch):
    (tmp_path / "parts").mkdir()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = _run(capsys, "run", "--source", str(tmp_path / "parts"), "--operator", "bo", "--db", db, "-q")
    assert code == 3 and "PIN" not in err
