"""INT8 in a station run (``--dtype int8``): built on OpenVINO fp32, switched to INT8 only where it agrees
with fp32 on the recipe's held-out good parts; what was used is stored and said. Tiny DINOv2, random weights."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")

from inspector.core.progress import ProgressState  # noqa: E402
from inspector.core.recipe import Recipe, save_recipe  # noqa: E402
from inspector.core.types import Verdict  # noqa: E402
from inspector.detectors.acceleration import Int8Gate  # noqa: E402
from inspector.errors import InspectorError  # noqa: E402
from inspector.pipeline import DetectorReady, RunRequest, RunState, RunStateChanged, SessionConfig, open_session  # noqa: E402
from inspector.pipeline.int8 import NO_HELD_OUT, held_out_good_parts  # noqa: E402
from inspector.sources import SourceKind, SourceSpec  # noqa: E402
from inspector.store import InspectionFilter, open_store  # noqa: E402
from tests.helpers import bracket_recipe, write_parts, write_reference  # noqa: E402


@pytest.fixture(autouse=True)
def _openvino_cache(tmp_path_factory, monkeypatch):
    """One OpenVINO cache for the module's tests (the tiny model is converted once per precision)."""
    monkeypatch.setenv("INSPECTOR_OPENVINO_CACHE", str(tmp_path_factory.getbasetemp() / "ov-cache-int8run"))


def _recipe(tmp_path, held_out: int) -> Recipe:
    good = write_parts(tmp_path / "held-out", held_out, defect_every=0) if held_out else []
    return bracket_recipe(tmp_path / "ref.png", calibration_images=tuple(str(p) for p in good))


# Where a test is not about the gate's figures, any agreement passes: whether the stated gate (Pearson
# >= 0.99) passes depends on this CPU's INT8 kernels, and no test may depend on the CPU kind.
ANY_AGREEMENT = Int8Gate(min_map_pearson=-1.0, max_score_diff=float("inf"))


def _config(tmp_path, **extra) -> SessionConfig:
    options = dict(
        database=tmp_path / "db.sqlite",
        device="cpu",
        dtype="int8",
        backend="openvino",
        random_weights=True,
        int8_gate=ANY_AGREEMENT,
    )
    return SessionConfig(**{**options, **extra})


def _run(session, recipe, parts, messages=None):
    ready: list[DetectorReady] = []
    subscription = session.subscribe(ready.append, DetectorReady)
    progress = ProgressState(lambda done, total, message: messages.append(message) if messages is not None else None)
    try:
        summary = session.run(RunRequest(recipe, SourceSpec(SourceKind.FOLDER, parts)), progress)
    finally:
        subscription.cancel()
    return summary, ready[0]


def _stored_dtypes(session) -> set[str | None]:
    return {r.model_dtype for r in session.store.query(InspectionFilter(recipe_name="bracket"), limit=100)}


def test_int8_with_held_out_parts_is_checked_stored_and_said(tmp_path, tiny_registry):
    recipe = _recipe(tmp_path, held_out=4)
    write_parts(tmp_path / "parts", 4)
    messages: list[str] = []
    with open_session(_config(tmp_path)) as session:
        summary, ready = _run(session, recipe, tmp_path / "parts", messages)
        assert summary.inspected == 4 and summary.error is None
        assert ready.info.backend == "openvino" and ready.info.dtype == "int8"
        assert ready.notice.startswith("INT8 accepted") and "on 4 good part(s)" in ready.notice and not ready.warning
        assert "Checking INT8 against fp32 on 4 good part(s) …" in messages
        assert _stored_dtypes(session) == {"int8"}
        # a second run of the same recipe keeps the checked INT8 detector: no second check
        write_parts(tmp_path / "more", 5)
        write_parts(tmp_path / "parts2", 2, defect_every=0)
        messages.clear()
        _, again = _run(session, recipe, tmp_path / "more", messages)
        assert again.info.dtype == "int8" and again.notice == ready.notice
        assert not any(m.startswith("Checking INT8") for m in messages)
        # new references: learnt from fp32 and checked again
        new_ref = write_reference(tmp_path / "ref2.png", size=(90, 84))
        messages.clear()
        _, changed = _run(session, replace(recipe, references=(str(new_ref),)), tmp_path / "parts2", messages)
        assert "Checking INT8 against fp32 on 4 good part(s) …" in messages
        assert changed.notice.startswith("INT8 accepted") and changed.info.dtype == "int8"


def test_new_calibration_images_are_checked_against_fp32_never_int8_against_itself(
    tmp_path, tiny_registry, monkeypatch
):
    from inspector.detectors import acceleration

    compared_from: list[str] = []
    measure = acceleration.measure_int8

    def spy(detector, good, gate=None):  # the real check, noting what it takes its baseline from
        compared_from.append(detector.info.dtype)
        return measure(detector, good, gate)

    monkeypatch.setattr(acceleration, "measure_int8", spy)
    recipe = _recipe(tmp_path, held_out=3)
    write_parts(tmp_path / "parts", 2)
    with open_session(_config(tmp_path)) as session:
        _, ready = _run(session, recipe, tmp_path / "parts")
        assert ready.info.dtype == "int8"
        other = write_parts(tmp_path / "other-held-out", 2, defect_every=0, size=(90, 84))
        _, again = _run(session, replace(recipe, calibration_images=tuple(map(str, other))), tmp_path / "parts")
        assert "on 2 good part(s)" in again.notice and again.info.dtype == "int8"
    assert compared_from == ["float32", "float32"]


def test_an_int8_model_that_cannot_be_built_leaves_the_run_on_fp32_and_says_why(tmp_path, tiny_registry, monkeypatch):
    from inspector.backbones.openvino_backend import BackendCheckError
    from inspector.detectors import acceleration

    compile_dino = acceleration.compile_dino

    def failing(detector, precision, calibration_images=()):
        if precision == "int8":
            raise BackendCheckError("OpenVINO int8 output differs from torch: max error 0.9 (allowed 0.5)")
        return compile_dino(detector, precision, calibration_images)

    monkeypatch.setattr(acceleration, "compile_dino", failing)
    recipe = _recipe(tmp_path, held_out=2)
    write_parts(tmp_path / "parts", 2)
    with open_session(_config(tmp_path)) as session:
        summary, ready = _run(session, recipe, tmp_path / "parts")
        assert summary.inspected == 2 and summary.error is None  # the run goes on, in fp32
        assert ready.notice.startswith("INT8 could not be built (OpenVINO int8 output differs from torch")
        assert ready.notice.endswith("; running openvino float32.") and ready.warning
        assert ready.info.dtype == "float32" and _stored_dtypes(session) == {"float32"}


def test_without_held_out_parts_it_runs_openvino_fp32_and_says_so_then_uses_reviewed_parts(tmp_path, tiny_registry):
    recipe = _recipe(tmp_path, held_out=0)
    write_parts(tmp_path / "parts", 6, defect_every=0)
    with open_session(_config(tmp_path)) as session:
        summary, ready = _run(session, recipe, tmp_path / "parts")
        assert summary.inspected == 6
        assert ready.notice == f"{NO_HELD_OUT} running openvino float32." and ready.warning
        assert ready.info.backend == "openvino" and ready.info.dtype == "float32"
        assert _stored_dtypes(session) == {"float32"}
        # an operator confirms three parts good: the next run checks INT8 on them (the store's library)
        records = session.store.query(InspectionFilter(recipe_name="bracket"), limit=3)
        for r in records:
            session.write(lambda store, r=r: store.add_override(r.id, "ana", Verdict.PASS)).result(timeout=60)
        held = held_out_good_parts(recipe, session.store)
        assert sorted(held.paths) == sorted(r.file_path for r in records)
        write_parts(tmp_path / "later", 2)
        messages: list[str] = []
        _, later = _run(session, recipe, tmp_path / "later", messages)
        assert "Checking INT8 against fp32 on 3 good part(s) …" in messages
        assert later.info.dtype == "int8" and later.notice.startswith("INT8 accepted")


def test_a_refused_gate_stays_on_openvino_fp32_with_its_report(tmp_path, tiny_registry):
    recipe = _recipe(tmp_path, held_out=3)
    write_parts(tmp_path / "parts", 3)
    strict = Int8Gate(min_map_pearson=1.0 - 1e-12, max_score_diff=1e-9)  # INT8 rounds: it cannot pass this
    with open_session(_config(tmp_path, int8_gate=strict)) as session:
        summary, ready = _run(session, recipe, tmp_path / "parts")
        assert summary.inspected == 3
        assert ready.notice.startswith("INT8 refused") and "staying on openvino float32" in ready.notice
        assert ready.warning and ready.info.backend == "openvino" and ready.info.dtype == "float32"
        assert _stored_dtypes(session) == {"float32"}


def test_int8_with_the_torch_backend_fails_before_the_source_opens(tmp_path, tiny_registry):
    recipe = _recipe(tmp_path, held_out=0)
    with open_session(_config(tmp_path, backend="torch")) as session:
        states: list[RunStateChanged] = []
        session.subscribe(states.append, RunStateChanged)
        with pytest.raises(InspectorError, match="INT8 runs on OpenVINO"):
            session.run(RunRequest(recipe, SourceSpec(SourceKind.FOLDER, tmp_path / "missing")))
        assert [s.state for s in states] == [RunState.STARTING, RunState.FAILED]


def test_inspector_run_dtype_int8_prints_the_check_and_stores_int8(tmp_path, tiny_registry):
    path = tmp_path / "recipe.json"
    save_recipe(_recipe(tmp_path, held_out=3), path)
    write_parts(tmp_path / "parts", 3)
    db = tmp_path / "cli.sqlite"
    base = [sys.executable, "-m", "inspector", "run", "--recipe", str(path), "--source", str(tmp_path / "parts")]
    out = subprocess.run(
        [*base, "--json", "--random-weights", "--device", "cpu", "--dtype", "int8", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode in (0, 1), out.stderr  # 1: a part failed (random weights)
    # the stated gate decides (its figures depend on this CPU's INT8 kernels): what it said is what ran
    accepted = "inspector: INT8 accepted: lowest map Pearson" in out.stderr
    assert accepted or "inspector: INT8 refused: lowest map Pearson" in out.stderr, out.stderr
    assert "on 3 good part(s)" in out.stderr
    summary = json.loads(out.stdout.splitlines()[-1])
    assert summary["pass"] + summary["fail"] + summary["uncertain"] == 3
    store = open_store(db)
    try:
        stored = {r.model_dtype for r in store.query(InspectionFilter(recipe_name="bracket"), limit=10)}
        assert stored == ({"int8"} if accepted else {"float32"})
    finally:
        store.close()

    refused = subprocess.run(
        [*base, "--device", "cpu", "--dtype", "int8", "--backend", "torch", "--db", str(tmp_path / "x.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2
    assert "inspector: INT8 runs on OpenVINO" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "x.sqlite").exists()  # refused before the database opened


def test_a_tiled_recipe_runs_int8_with_its_inner_detector_quantised(tmp_path, tiny_registry):
    tiled = replace(_recipe(tmp_path, held_out=3), detector_params={"resolution": 56, "tiling": {"grid": [2, 1]}})
    write_parts(tmp_path / "parts", 2)
    with open_session(_config(tmp_path)) as session:
        summary, ready = _run(session, tiled, tmp_path / "parts")
        assert summary.inspected == 2
        assert type(session.detectors.detector).__name__ == "TiledDetector"
        assert ready.notice.startswith("INT8 accepted") and "on 3 good part(s)" in ready.notice, ready.notice
        assert ready.info.dtype == "int8" and session.detectors.detector.inner.info.dtype == "int8"
        assert _stored_dtypes(session) == {"int8"}


def test_trained_detectors_int8_where_their_encoder_has_openvino_else_said_and_float(tmp_path, tiny_registry):
    base = _recipe(tmp_path, held_out=2)
    write_parts(tmp_path / "parts", 2)
    write_parts(tmp_path / "parts2", 1, defect_every=0, size=(90, 84))
    with open_session(_config(tmp_path)) as session:
        # the memory detector is AnomalyDINO over a coreset: its DINOv2 encoder is quantised and checked
        memory = replace(base, detector="memory", detector_params={"resolution": 56})
        _, ready = _run(session, memory, tmp_path / "parts")
        assert ready.notice.startswith("INT8 accepted") and ready.info.dtype == "int8", ready.notice
        # SimpleNet has no OpenVINO path: said, and it runs as built
        simplenet = replace(
            base,
            detector="simplenet",
            detector_params={"resolution": 56, "epochs": 1, "embed_dim": 16, "dsc_hidden": 16},
        )
        summary, other = _run(session, simplenet, tmp_path / "parts2")
        assert summary.inspected == 1 and other.warning
        assert other.notice == (
            "INT8 is not available for 'simplenet': its image encoder has no OpenVINO path; running torch float32."
        )
        assert other.info.dtype == "float32" and other.info.backend == "torch"


def test_set_runtime_switches_the_next_run_to_int8_and_refuses_a_bad_choice(tmp_path, tiny_registry):
    recipe = _recipe(tmp_path, held_out=2)
    write_parts(tmp_path / "parts", 1, defect_every=0)
    write_parts(tmp_path / "later", 1, defect_every=0, size=(90, 84))
    with open_session(_config(tmp_path, dtype="float32", backend="torch")) as session:
        _, first = _run(session, recipe, tmp_path / "parts")
        assert (first.info.backend, first.info.dtype, first.notice) == ("torch", "float32", "")
        session.set_runtime(dtype="int8", backend="openvino")
        _, second = _run(session, recipe, tmp_path / "later")
        assert second.info.dtype == "int8" and second.notice.startswith("INT8 accepted")
        with pytest.raises(InspectorError, match="INT8 runs on OpenVINO"):
            session.set_runtime(backend="torch")
        assert (session.config.dtype, session.config.backend) == ("int8", "openvino")  # unchanged
