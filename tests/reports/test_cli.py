"""``inspector report`` and ``inspector export-dataset`` as registered by inspector.reports.cli."""

from __future__ import annotations

import argparse
import csv

import pytest

from inspector.errors import InspectorError
from inspector.reports.cli import register


def run(argv: list[str]) -> int:
    """What ``inspector.cli.main`` does with a registered sub-command."""
    parser = argparse.ArgumentParser(prog="inspector")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_writes_every_format_into_a_folder(station, tmp_path, capsys):
    db = str(station.store.db.path)
    assert run(["report", "--db", db, "--lot", "L-18", "-o", str(tmp_path), "--utc", "-q"]) == 0
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".csv", ".html", ".pdf"]
    out, err = capsys.readouterr()
    assert "147 inspections (lot L-18)" in out and "PDF " in out and "(147 rows)" in out
    assert "RANDOM WEIGHTS" in err  # shift B used random weights for some parts


def test_report_one_file_by_suffix_run_label_and_recipe_version(station, tmp_path, capsys):
    db = str(station.store.db.path)
    target = tmp_path / "shift-a.csv"
    assert run(["report", "--db", db, "--run", "shift a", "--recipe", "bracket-A:v1", "-o", str(target), "-q"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["shift-a.csv"]
    with open(target, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 147 and {r["run_label"] for r in rows} == {"Shift A"}
    assert {r["recipe_version"] for r in rows} == {"1"}
    assert (
        run(["report", "--db", db, "--run", station.run_b[:30], "-f", "csv,html", "-o", str(tmp_path / "b.pdf"), "-q"])
        == 0
    )
    assert (tmp_path / "b.csv").is_file() and (tmp_path / "b.html").is_file() and not (tmp_path / "b.pdf").exists()


def test_list_runs_and_plain_errors(station, tmp_path, capsys):
    db = str(station.store.db.path)
    assert run(["report", "--db", db, "--list-runs"]) == 0
    out = capsys.readouterr().out
    assert station.run_a in out and "Shift B" in out and "L-17" in out
    for argv, message in (
        (["--db", str(tmp_path / "missing.db")], "no inspection database"),
        (["--db", db, "--run", "Shift Z"], "No run matches 'Shift Z'"),
        (["--db", db, "--from", "2025-03-04", "--to", "2025-03-02"], "period is empty"),
        (["--db", db, "--from", "soon"], "Cannot read the time 'soon'"),
        (["--db", db, "-f", "docx"], "Unknown report format"),
    ):
        with pytest.raises(InspectorError, match=message):
            run(["report", *argv, "-o", str(tmp_path / "x"), "-q"])
    assert not (tmp_path / "missing.db").exists()  # a wrong path never creates an empty database


def test_export_dataset_command(station, tmp_path, capsys):
    db = str(station.store.db.path)
    out = tmp_path / "data"
    assert run(["export-dataset", str(out), "--db", db, "--lot", "L-17", "--train-fraction", "0", "-q"]) == 0
    text = capsys.readouterr().out
    assert "bracket-A/test/good" in text and "left out: not reviewed by an operator" in text
    assert (out / "manifest.csv").is_file() and (out / "bracket-A" / "test" / "good").is_dir()
    assert not (out / "bracket-A" / "train").exists()
