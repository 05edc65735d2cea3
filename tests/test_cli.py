"""The command line as a user meets it."""

import json
import os
import subprocess
import sys

from inspector.cli import main
from tests.helpers import make_tiny_dataset


def run_cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, env=full_env, timeout=600
    )


def test_help_lists_the_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("models", "eval", "bench", "recipe", "run", "report", "export-dataset"):
        assert command in out.stdout


def test_models_list_shows_each_model_and_missing_weights(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ids = {r["id"]: r for r in rows}
    assert {"clip-vit-b-16-plus-240", "dinov2-small", "blip2-opt-2.7b"} <= set(ids)
    assert all(r["weights"] == "missing" for r in rows)
    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert "dinov2-small" in text and "missing" in text and "inspector models import" in text


def test_models_import_then_list_shows_present(saved_dinov2_small, capsys):
    assert main(["models", "import", str(saved_dinov2_small), "--model", "dinov2-small"]) == 0
    main(["models", "list", "--json"])
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out.split("\n", 1)[1])}
    assert rows["dinov2-small"]["weights"] == "present"
    assert rows["dinov2-base"]["weights"] == "missing"


def test_eval_without_weights_gives_one_clear_message_and_no_traceback(tmp_path):
    dataset = make_tiny_dataset(tmp_path / "cat")
    out = run_cli("eval", str(dataset), "--detector", "anomalydino", env={"INSPECTOR_DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    assert "dinov2-small" in out.stderr and "inspector models import" in out.stderr


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["models", "import", "x", "--model", "nope"]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
