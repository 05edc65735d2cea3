"""Reports after faults: a killed station's run is shown as killed, a read-only (archived) database
can be reported from, and a part whose file changed since inspection says so."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import text

from inspector.reports.cli import open_store_arg
from inspector.store import open_store
from tests.helpers import failed_part
from tests.reports.test_cli import run

REPO = Path(__file__).resolve().parents[2]


def _dead_process_tag() -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "from inspector.core.processes import process_tag; print(process_tag())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()


def _station(db: Path, tmp_path: Path) -> tuple[str, str]:
    """A database with a finished run and one left open by a station that died; returns their ids."""
    part = tmp_path / "part.png"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(part)
    with open_store(db) as store:
        version = store.save_recipe_version("bracket", {"threshold": 0.5})
        done = store.start_run(source="folder:/a", recipe_version_id=version.id, label="day shift")
        store.finish_run(done.id)
        killed = store.start_run(source="folder:/b", recipe_version_id=version.id, label="night shift")
        thumb = store.artifacts.save_thumbnail(np.asarray(Image.open(part)))
        store.add_inspections(
            [
                failed_part(
                    hashlib.sha256(part.read_bytes()).hexdigest(),
                    version.id,
                    file_path=str(part),
                    run_id=killed.id,
                    thumbnail_artifact=thumb,
                )
            ]
        )
        with store.db.write() as conn:  # the station that ran it is gone (kill -9)
            conn.execute(text("UPDATE runs SET process = :p WHERE id = :i"), {"p": _dead_process_tag(), "i": killed.id})
    return done.id, killed.id


def test_a_killed_run_is_shown_as_killed_in_list_runs_and_in_the_html_runs_table(tmp_path, capsys):
    db = tmp_path / "inspector.db"
    _station(db, tmp_path)
    assert run(["report", "--db", str(db), "--list-runs"]) == 0
    listing = capsys.readouterr().out
    night = next(line for line in listing.splitlines() if "night shift" in line)
    day = next(line for line in listing.splitlines() if "day shift" in line)
    assert "KILLED" in night and "finished" in day
    assert run(["report", "--db", str(db), "-f", "html", "-o", str(tmp_path / "r.html"), "-q"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "KILLED (not closed)" in html and "<th>Ended</th>" in html.replace(" class='num'", "")


def test_a_part_whose_file_changed_since_inspection_says_so_in_the_report(tmp_path):
    db = tmp_path / "inspector.db"
    _station(db, tmp_path)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "part.png")  # another part, same name
    assert run(["report", "--db", str(db), "-f", "html", "-o", str(tmp_path / "r.html"), "-q"]) == 0
    assert "file changed since inspection" in (tmp_path / "r.html").read_text()


def test_a_read_only_database_can_be_reported_from(tmp_path, capsys):
    from tests.faults.util import ext4_disk

    with ext4_disk(tmp_path) as disk:
        db = disk.mountpoint / "inspector.db"
        _station(db, tmp_path)
        subprocess.run(["mount", "-o", "remount,ro", str(disk.mountpoint)], check=True)  # archived, read-only
        try:
            assert run(["report", "--db", str(db), "-f", "csv", "-o", str(tmp_path / "r.csv"), "-q"]) == 0
            assert "cannot be written: reading it from a private copy" in capsys.readouterr().err
            assert len((tmp_path / "r.csv").read_text().splitlines()) == 2  # header + the one part
            with open_store_arg(str(db)) as store:
                assert store.db.read_only and store.count() == 1
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk.mountpoint)], check=False)
