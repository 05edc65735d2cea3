"""What #10 must show: verdicts made with random weights are never reused once real weights arrive.

A random-weights run, then ``models import`` of a full-size DINOv2-small saved with
``save_pretrained`` (random values, so it counts as real weights), then the same ``inspector run``:
every part is scored again, and the database holds both sets, each with its weights' fingerprint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from inspector.core.recipe import Recipe, save_recipe
from inspector.store import open_store
from tests.helpers import write_parts, write_reference

N = 4


def _inspector(*args):
    out = subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, env=dict(os.environ), timeout=900
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out


def _run(recipe, parts, db, *extra):
    out = _inspector("run", "--recipe", str(recipe), "--source", str(parts), "--db", str(db), "--json", *extra)
    assert out.returncode in (0, 1), out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return lines[:-1], lines[-1]


def test_real_weights_score_every_part_again_and_both_sets_stay(tmp_path, saved_dinov2_small):
    parts = tmp_path / "parts"
    write_parts(parts, N)
    recipe = tmp_path / "recipe.json"
    save_recipe(
        Recipe(
            name="bracket",
            object_name="bracket",
            detector="anomalydino",
            model="dinov2-small",
            references=(str(write_reference(tmp_path / "ref.png")),),
            detector_params={"resolution": 224},
        ),
        recipe,
    )
    db = tmp_path / "inspector.db"

    first, summary = _run(recipe, parts, db, "--random-weights", "--device", "cpu")
    assert [p["status"] for p in first] == ["stored"] * N
    assert summary["random_weights"] is True and summary["model_fingerprint"] == "random:0"

    imported = _inspector("models", "import", str(saved_dinov2_small), "--model", "dinov2-small")
    assert imported.returncode == 0, imported.stderr

    second, summary = _run(recipe, parts, db, "--device", "cpu")
    assert [p["status"] for p in second] == ["stored"] * N, second  # none "already inspected"
    assert summary["duplicates"] == 0 and summary["random_weights"] is False
    real = summary["model_fingerprint"]
    assert real.startswith("sha256:") and len(real) == len("sha256:") + 64

    third, summary = _run(recipe, parts, db, "--device", "cpu")
    assert [p["status"] for p in third] == ["duplicate"] * N and summary["duplicates"] == N

    with open_store(db) as store:
        records = store.query()
    by_print = {}
    for r in records:
        by_print.setdefault(r.model_fingerprint, []).append(r)
    assert sorted(by_print) == sorted(["random:0", real])
    for fingerprint, rows in by_print.items():
        assert len(rows) == N and len({r.content_hash for r in rows}) == N
        assert {r.random_weights for r in rows} == {fingerprint == "random:0"}
        assert {(r.model_id, r.detector, r.model_device) for r in rows} == {("dinov2-small", "anomalydino", "cpu")}
        assert all(r.model_dtype in ("float32", "bfloat16") for r in rows)
    assert len({r.recipe_version_id for r in records}) == 1  # same recipe version, other weights
