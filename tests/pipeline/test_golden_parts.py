"""Golden-part checks (#16 point 3): a wrong golden verdict blocks the run start with a clear message
(or warns under ``golden_policy: warn``); every check is stored, with recipe version and fingerprint."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from inspector.cli import main
from inspector.core.recipe import Recipe, load_recipe, save_recipe
from inspector.detectors.factory import detector_for_recipe
from inspector.errors import RecipeError
from inspector.pipeline import InspectionPipeline, fit_for_recipe
from inspector.pipeline.golden import GOLDEN_EXIT_CODE, GoldenCheckFailed
from inspector.sources import make_source
from inspector.store import open_store
from tests.helpers import write_parts, write_reference


@pytest.fixture
def line(tmp_path, tiny_registry):
    """A tiny-DINO recipe whose reference scores 0 (PASS at threshold 0.05), parts, and a database."""
    ref = write_reference(tmp_path / "ref.png")
    write_parts(tmp_path / "parts", 3)
    path = tmp_path / "recipe.json"
    save_recipe(
        Recipe(
            name="bracket",
            detector="anomalydino",
            model="tiny-dino",
            references=(str(ref),),
            threshold=0.05,
            detector_params={"resolution": 56},
        ),  # fmt: skip
        path,
    )
    return path, ref, tmp_path / "parts", str(tmp_path / "inspector.db")


def _run(recipe, parts, db):
    return main(["run", "--recipe", str(recipe), "--source", str(parts), "--db", db, "--random-weights", "-q",
                 "--device", "cpu"])  # fmt: skip


def test_a_wrong_golden_verdict_blocks_the_start_with_a_clear_message(line, capsys):
    recipe, ref, parts, db = line
    # deliberately wrong: the good reference itself registered as a known DEFECTIVE part
    assert main(["golden", "add", str(recipe), str(ref), "--expect", "defective", "--db", db]) == 0
    capsys.readouterr()
    assert _run(recipe, parts, db) == GOLDEN_EXIT_CODE == 7
    err = capsys.readouterr().err
    assert "Golden-part check FAILED: 1 of 1 golden parts got the wrong verdict" in err
    assert "ref.png: expected defective (fail), got PASS — score 0.0000 vs threshold 0.0500" in err
    assert "The run was not started (golden_policy: block)" in err and "Traceback" not in err
    with open_store(db) as store:
        assert store.runs() == [] and store.count() == 0  # nothing started, nothing scored
        (check,) = store.golden.checks("bracket")
        assert not check.passed and check.trigger == "run-start" and check.policy == "block"
        assert check.recipe_version == 1 and check.model_fingerprint == "random:0" and check.random_weights
        (result,) = check.results
        assert (result.expected, result.got, result.ok) == ("defective", "pass", False)
        assert result.score == pytest.approx(0.0, abs=1e-6) and result.threshold == 0.05
        assert store.verify_audit().ok  # the check is chained like every record

    # the same part registered as what it is: the check passes and the run starts
    with open_store(db) as store:
        part = store.golden.parts("bracket")[0]
    assert main(["golden", "remove", str(recipe), part.id[:8], "--db", db]) == 0
    assert main(["golden", "add", str(recipe), str(ref), "--expect", "good", "--db", db]) == 0  # removed: may return
    assert main(["golden", "add", str(recipe), str(ref), "--expect", "good", "--db", db]) == 2
    assert "ref.png is already a golden part of recipe 'bracket'" in capsys.readouterr().err
    with open_store(db) as store:
        assert [p.expected for p in store.golden.parts("bracket")] == ["good"]
    assert _run(recipe, parts, db) in (0, 1)
    assert "Golden-part check passed: 1 of 1 right" in capsys.readouterr().err
    with open_store(db) as store:
        assert len(store.runs()) == 1 and [c.passed for c in store.golden.checks("bracket")] == [True, False]


def test_warn_policy_runs_and_records_the_failed_check(line, capsys):
    recipe, ref, parts, db = line
    save_recipe(replace(load_recipe(recipe), golden_policy="warn"), recipe)
    assert json.loads(recipe.read_text())["golden_policy"] == "warn"
    assert main(["golden", "add", str(recipe), str(ref), "--expect", "defective", "--db", db]) == 0
    assert _run(recipe, parts, db) in (0, 1)
    err = capsys.readouterr().err
    assert "inspector: warning: Golden-part check FAILED" in err and "Starting anyway (golden_policy: warn)" in err
    with open_store(db) as store:
        assert len(store.runs()) == 1 and store.count() == 3
        (check,) = store.golden.checks("bracket")
        assert not check.passed and check.policy == "warn"
    out = parts.parent / "report"
    assert main(["report", "--db", db, "-o", str(out), "-f", "html,pdf", "-q"]) == 0
    html = (out / next(p.name for p in out.iterdir() if p.suffix == ".html")).read_text()
    assert "<h2>Golden-part checks</h2>" in html and "FAILED, warned" in html and "run-start" in html
    assert "ref.png: expected defective (fail), got PASS" in html and "random:0" in html
    assert "<h2>Recipe signatures</h2>" in html and "UNSIGNED recipe versions were used: bracket v1" in html
    assert any(p.suffix == ".pdf" for p in out.iterdir())


def test_golden_check_on_demand_and_list(line, capsys):
    recipe, ref, parts, db = line
    good = write_parts(parts.parent / "golden", 1, defect_every=0)[0]
    assert main(["golden", "add", str(recipe), str(ref), "--expect", "good", "--note", "the master", "--db", db]) == 0
    capsys.readouterr()
    assert main(["golden", "check", str(recipe), "--random-weights", "--device", "cpu", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["model_fingerprint"] == "random:0" and len(report["results"]) == 1
    assert main(["golden", "add", str(recipe), str(good), "--expect", "good", "--db", db]) == 0
    registered = good.read_bytes()
    good.write_bytes(ref.read_bytes())  # the file changed after registration: the kept copy is scored
    assert main(["golden", "check", str(recipe), "--random-weights", "--device", "cpu", "--db", db]) in (0, 7)
    with open_store(db) as store:
        part = store.golden.find("bracket", good.name)
        kept = store.golden.image(part)
        assert kept is not None and kept != good and kept.read_bytes() == registered
        kept.unlink()  # and the copy is gone too: the check fails and says why
    capsys.readouterr()
    assert main(["golden", "check", str(recipe), "--random-weights", "--device", "cpu", "--db", db]) == 7
    out = capsys.readouterr().out
    assert "changed since it was registered and no copy was kept" in out and "A run would not start" in out
    assert main(["golden", "list", str(recipe), "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "ref.png" in listed and "part_000.png" in listed and "Last check" in listed and "FAILED (1 wrong)" in listed
    with open_store(db) as store:
        assert [c.trigger for c in store.golden.checks("bracket")] == ["on-demand"] * 3


def test_the_pipeline_itself_refuses_for_every_front_end(line, monkeypatch):
    recipe_path, ref, parts, db = line
    recipe = load_recipe(recipe_path)
    with open_store(db) as store:
        store.golden.add("bracket", ref, "defective", signer=None)
        detector = detector_for_recipe(recipe, device="cpu", random_weights=True)
        fit_for_recipe(detector, recipe)
        pipeline = InspectionPipeline(recipe, detector, store, make_source(str(parts)))
        with pytest.raises(GoldenCheckFailed) as refused:
            pipeline.run()
        assert isinstance(refused.value, RecipeError) and "ref.png" in str(refused.value)
        assert store.runs() == []
        seen = []
        warn = replace(recipe, golden_policy="warn")
        written_on = []
        golden_type = type(store.golden)
        record_check = golden_type.record_check

        def record_on_thread(*args, **kwargs):
            written_on.append(threading.current_thread().name)
            return record_check(*args, **kwargs)

        monkeypatch.setattr(golden_type, "record_check", record_on_thread)
        summary = InspectionPipeline(warn, detector, store, make_source(str(parts)), on_golden=seen.append).run()
        assert summary.inspected == 3 and len(seen) == 1 and seen[0].warning and "FAILED" in seen[0].warning
        assert written_on == ["inspector-db"]  # the run's check is written by the one writer thread


def test_golden_parts_live_in_the_database_not_in_the_recipe_file(line):
    recipe, *_ = line
    body = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**body, "golden_parts": ["ab" * 32]}))
    with pytest.raises(RecipeError, match="golden parts now live in the station database.*inspector golden add"):
        load_recipe(recipe)
    recipe.write_text(json.dumps({**body, "golden_parts": []}))  # an empty list loses nothing
    assert load_recipe(recipe).name == "bracket"
