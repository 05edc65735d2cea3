"""Crash-and-fault script: ``inspector run`` under every fault the red-team pass tried (issue #11).

Not a timed test: it repeats each fault and prints, for every round, the exit code, the parts the
run reported stored, the parts in the database, the parts lost (reported stored but not in the
database: must be 0, or the run must have said so with exit 5) and duplicates (must be 0).

    python tests/bench/bench_faults.py [--kill9 20] [--sigterm 5] [--deleted 3] [--readonly 3]

Uses the tiny DINOv2 architecture with random weights (speed does not matter here). The read-only
rounds loop-mount a small ext4 disk and make it fail (root only; skipped elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inspector.core.recipe import Recipe, save_recipe  # noqa: E402
from tests.helpers import TINY_DINO, write_parts, write_reference  # noqa: E402


@dataclass
class Round:
    scenario: str
    n: int
    exit_code: int | None = None
    reported: set[str] = field(default_factory=set)
    in_db: int | None = None
    lost: int | None = None
    duplicates: int | None = None
    note: str = ""
    stderr: str = ""

    def row(self) -> str:
        said = " (said so, exit 5)" if self.lost and self.exit_code == 5 else ""
        return (
            f"{self.scenario:<14} {self.n:>3}  exit {str(self.exit_code):>4}  reported {len(self.reported):>3}  "
            f"in db {str(self.in_db):>4}  lost {str(self.lost):>3}{said}  dup {str(self.duplicates):>2}  {self.note}"
        )


class Station:
    def __init__(self, root: Path) -> None:
        self.root = root
        models = root / "models"
        models.mkdir()
        (models / "tiny-dino.json").write_text(json.dumps(TINY_DINO))
        self.env = {**os.environ, "INSPECTOR_MODELS_DIR": str(models), "PYTHONPATH": str(REPO)}
        ref = write_reference(root / "ref.png")
        self.recipe = root / "recipe.json"
        save_recipe(
            Recipe(
                name="bracket",
                object_name="bracket",
                detector="anomalydino",
                model="tiny-dino",
                references=(str(ref),),
                threshold=0.05,
                detector_params={"resolution": 56},
            ),
            self.recipe,
        )
        self.parts = root / "parts"
        write_parts(self.parts, 60)
        self.lot = root / "lot"  # large enough that 20 kills all land mid-run
        write_parts(self.lot, 400)

    def launch(self, source: str, db: Path, *extra: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "inspector", "run", "--recipe", str(self.recipe), "--source", source]
        cmd += ["--json", "-q", "--random-weights", "--device", "cpu", "--batch-size", "2", "--db", str(db), *extra]
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(proc: subprocess.Popen, stored: int, rnd: Round, timeout: float = 300) -> dict | None:
    """Read JSON lines until ``stored`` parts were reported stored (or the run ends); the summary if seen."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return None
        record = json.loads(line)
        if record.get("summary"):
            return record
        if record.get("status") == "stored":
            rnd.reported.add(record["inspection_id"])
            count += 1
            if count >= stored:
                return None
    return None


def finish(proc: subprocess.Popen, rnd: Round) -> dict | None:
    out, err = proc.communicate(timeout=300)
    rnd.stderr = err or ""
    summary = None
    for line in out.splitlines():
        record = json.loads(line)
        if record.get("summary"):
            summary = record
        elif record.get("status") == "stored":
            rnd.reported.add(record["inspection_id"])
    rnd.exit_code = proc.returncode
    return summary


def check(db: Path, rnd: Round) -> None:
    if not db.exists():
        rnd.in_db, rnd.lost, rnd.duplicates = 0, len(rnd.reported), 0
        return
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "inspections" not in tables:
            rnd.in_db, rnd.lost, rnd.duplicates = 0, len(rnd.reported), 0
            rnd.note += " no tables"
            return
        ids = {r[0] for r in conn.execute("SELECT id FROM inspections")}
        dup = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM inspections GROUP BY content_hash, recipe_version_id "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rnd.in_db, rnd.lost, rnd.duplicates = len(ids), len(rnd.reported - ids), dup


def kill9(st: Station, n: int) -> list[Round]:
    db = st.root / "kill9" / "inspector.db"
    rounds = []
    for i in range(n):
        rnd = Round("kill -9", i + 1)
        proc = st.launch(str(st.lot), db)
        summary = read_until(proc, random.randint(1, 6), rnd)
        if summary is None:
            time.sleep(random.uniform(0, 0.3))  # land anywhere: scoring, writing, committing
            proc.send_signal(signal.SIGKILL)
            finish(proc, rnd)
        else:
            rnd.note = "finished before the kill"
            finish(proc, rnd)
        check(db, rnd)
        rounds.append(rnd)
    rnd = Round("re-run", 1)
    finish(st.launch(str(st.lot), db), rnd)
    check(db, rnd)
    rnd.note = f"the re-run completes the lot: {rnd.in_db} of 400 in the database"
    rounds.append(rnd)
    return rounds


def sigterm(st: Station, n: int) -> list[Round]:
    rounds = []
    for i in range(n):
        db = st.root / f"sigterm-{i}" / "inspector.db"
        rnd = Round("SIGTERM", i + 1)
        proc = st.launch(f"hot:{st.parts}", db, "--include-existing")
        read_until(proc, random.randint(1, 10), rnd)
        proc.send_signal(signal.SIGTERM)
        summary = finish(proc, rnd)
        check(db, rnd)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            outcome = conn.execute("SELECT outcome FROM runs").fetchone()[0]
        rnd.note = f"summary printed: {summary is not None}; run closed as {outcome!r}"
        rounds.append(rnd)
    return rounds


def deleted(st: Station, n: int) -> list[Round]:
    rounds = []
    for i in range(n):
        db = st.root / f"deleted-{i}" / "inspector.db"
        rnd = Round("db deleted", i + 1)
        proc = st.launch(str(st.parts), db)
        read_until(proc, random.randint(2, 8), rnd)
        os.unlink(db)
        before = len(rnd.reported)
        finish(proc, rnd)
        check(db, rnd)
        said = "deleted or moved" in rnd.stderr and "were committed to the database before it stopped" in rnd.stderr
        rnd.note = f"{len(rnd.reported) - before} reported after the deletion; " + (
            "the run said so: " + next(x for x in rnd.stderr.splitlines() if "before it stopped" in x)
            if said
            else "NO MESSAGE"
        )
        rounds.append(rnd)
    return rounds


def readonly(st: Station, n: int, durability: str) -> list[Round]:
    if os.geteuid() != 0:
        return [Round(f"ro ({durability})", 0, note="skipped: loop mounts need root")]
    rounds = []
    for i in range(n):
        rnd = Round(f"ro ({durability})", i + 1)
        image, mnt = st.root / f"disk-{durability}-{i}.ext4", st.root / f"disk-{durability}-{i}"
        mnt.mkdir()
        with open(image, "wb") as handle:
            handle.truncate(64 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
        if subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(mnt)]).returncode != 0:
            return [Round(f"ro ({durability})", 0, note="skipped: cannot loop-mount here")]
        db = mnt / "inspector.db"
        try:
            proc = st.launch(str(st.parts), db, "--durability", durability)
            read_until(proc, random.randint(2, 8), rnd)
            source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True, text=True)
            Path(f"/sys/fs/ext4/{Path(source.stdout.strip()).name}/trigger_fs_error").write_text("bench\n")
            finish(proc, rnd)
        finally:
            subprocess.run(["umount", str(mnt)], capture_output=True)
        subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
        try:
            check(db, rnd)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        rounds.append(rnd)
    return rounds


def special_files(st: Station) -> list[Round]:
    hot = st.root / "hot"
    hot.mkdir()
    os.mkfifo(hot / "a_fifo.png")
    os.symlink("/dev/zero", hot / "b_zero.png")
    os.symlink(hot / "c_loop.png", hot / "c_loop.png")
    (hot / "d_photo.gif").write_bytes(b"GIF89a")
    (hot / "e_photo.heic").write_bytes(b"heic")
    from tests.sources.test_special_entries import header_only_png

    header_only_png(hot / "f_bomb.png", 12_000, 12_000)
    db = st.root / "special" / "inspector.db"
    rnd = Round("special files", 1)
    proc = st.launch(f"hot:{hot}", db, "--include-existing")
    skipped: list[str] = []
    deadline = time.monotonic() + 300
    dropped = False
    while time.monotonic() < deadline and (len(rnd.reported) < 5 or len(skipped) < 6):
        if not dropped and len(skipped) >= 6:
            for k in range(5):  # good parts arriving after the special files
                os.link(st.parts / f"part_{k:03d}.png", hot / f"g_good_{k}.png")
            dropped = True
        line = proc.stdout.readline()
        if not line:
            break
        record = json.loads(line)
        if record.get("status") == "stored":
            rnd.reported.add(record["inspection_id"])
        elif record.get("status") == "skipped":
            name = Path(record["path"]).name
            reason = record["reason"].replace(record["path"], name)
            skipped.append(reason[:90])
    proc.send_signal(signal.SIGTERM)
    finish(proc, rnd)
    check(db, rnd)
    rnd.note = "skipped with reasons:\n      " + "\n      ".join(skipped)
    return [rnd]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill9", type=int, default=20)
    parser.add_argument("--sigterm", type=int, default=5)
    parser.add_argument("--deleted", type=int, default=3)
    parser.add_argument("--readonly", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="inspector-faults-") as tmp:
        st = Station(Path(tmp))
        rounds: list[Round] = []
        for part in (
            lambda: special_files(st),
            lambda: kill9(st, args.kill9),
            lambda: sigterm(st, args.sigterm),
            lambda: deleted(st, args.deleted),
            lambda: readonly(st, args.readonly, "full"),
            lambda: readonly(st, 1, "normal"),
        ):
            for rnd in part():
                print(rnd.row(), flush=True)
                rounds.append(rnd)
    bad = [r for r in rounds if (r.lost and r.exit_code != 5 and "normal" not in r.scenario) or r.duplicates]
    print(f"\n{len(rounds)} rounds; {len(bad)} lost a reported part without saying so, or duplicated one")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
