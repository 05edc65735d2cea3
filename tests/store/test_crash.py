"""A real ``kill -9`` in the middle of logging loses no reported verdict and leaves a sound file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from inspector.store import InspectionFilter, open_store

REPO = Path(__file__).resolve().parents[2]

# Logs batches of 50 forever; after each commit prints the stored ids on one line.
CHILD = """
import hashlib, sys
from inspector.store import NewInspection, Verdict, open_store

store = open_store(sys.argv[1])
recipe = store.save_recipe_version("crash-test", {"threshold": 0.5})
tag = sys.argv[2]
print("ready", flush=True)
n = 0
while True:
    batch = [
        NewInspection(
            content_hash=hashlib.sha256(f"{tag}-{n + k}".encode()).hexdigest(),
            recipe_version_id=recipe.id, score=0.7, threshold=0.5, verdict=Verdict.FAIL,
            detector="winclip", model_id="clip-vit-b-16", file_path=f"/parts/{tag}/{n + k}.png",
        )
        for k in range(50)
    ]
    result = store.add_inspections(batch)
    print(" ".join(result.ids), flush=True)
    n += 50
"""


def _run_and_kill(db: Path, tag: str, min_batches: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), tag], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    lines: list[bytes] = []
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first == b"ready\n", child.stderr.read().decode() if child.stderr else first
        while len(lines) < min_batches:
            line = child.stdout.readline()
            assert line, "the child stopped logging on its own"
            lines.append(line)
        time.sleep(random.uniform(0, 0.01))  # land anywhere in the next transaction
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # lines it had printed before dying
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    return [i for line in lines if line.endswith(b"\n") for i in line.decode().split()]


def test_kill_9_mid_run_loses_no_reported_verdict(tmp_path):
    db = tmp_path / "station" / "inspector.db"
    reported: list[str] = []
    for round_ in range(3):  # each round reopens the database the previous kill left behind
        reported += _run_and_kill(db, f"r{round_}", min_batches=10 + 5 * round_)

    assert len(reported) >= 3 * 500
    with open_store(db) as store:
        assert store.db.check_integrity() == ["ok"]
        stored = {r.id for r in store.query(InspectionFilter(), limit=100_000)}
        missing = set(reported) - stored
        assert not missing, f"{len(missing)} verdicts reported as stored are gone"
        # Whatever was committed is whole: batches of 50, nothing half-written.
        assert len(stored) % 50 == 0 and len(stored) >= len(reported)
