"""Choosing the backend: the CLI flag, ``auto``'s remembered measurement, INT8 and tiles in the benchmark."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("openvino")

from inspector.backbones import backend_choice  # noqa: E402
from inspector.cli import main  # noqa: E402
from inspector.detectors import acceleration  # noqa: E402
from inspector.detectors.factory import create_detector  # noqa: E402
from inspector.errors import InspectorError  # noqa: E402
from tests.helpers import make_tiny_dataset, write_parts  # noqa: E402


@pytest.mark.parametrize("backend", ["openvino", "torch"])
def test_cli_backend_flag_selects_the_backend(tmp_path, tiny_registry, capsys, backend):
    make_tiny_dataset(tmp_path / "data" / "widget")
    out = tmp_path / "eval.json"
    args = ["eval", str(tmp_path / "data"), "--detector", "anomalydino", "--model", "tiny-dino"]
    args += ["--random-weights", "--device", "cpu", "--dtype", "float32", "--backend", backend]
    assert main([*args, "--json", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    assert report["backend"] == backend
    assert f"cpu/{backend} float32" in capsys.readouterr().out


def _auto(resolution: int = 56):
    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import get_spec
    from inspector.detectors.anomalydino import AnomalyDinoDetector

    loaded = load_model(get_spec("tiny-dino"), make_runtime("cpu", "float32"), random_weights=True)
    graph = f"anomalydino:tiny-dino:{resolution}"
    return acceleration.auto_backend(loaded, "float32", lambda m: AnomalyDinoDetector(m, resolution=resolution), graph)


def test_auto_measures_once_per_machine_and_model_and_remembers(tiny_registry, monkeypatch):
    measured = []
    real = acceleration.median_seconds
    monkeypatch.setattr(acceleration, "median_seconds", lambda fn, *a, **k: measured.append(1) or real(fn, *a, **k))
    first = _auto()
    assert len(measured) == 2  # torch once, OpenVINO once
    stored = json.loads(backend_choice.choice_file().read_text())
    (entry,) = stored.values()
    assert entry["backend"] == first.info.backend and set(entry["seconds"]) == {"torch", "openvino"}
    second = _auto()
    assert len(measured) == 2 and second.info.backend == first.info.backend  # recalled, not measured
    assert first.memory_bank_size == 0  # the synthetic timing image is not a reference
    _auto(resolution=28)  # another graph: measured again
    assert len(measured) == 4 and len(json.loads(backend_choice.choice_file().read_text())) == 2


def test_auto_uses_torch_for_random_weights_without_measuring(tiny_registry, monkeypatch):
    monkeypatch.setattr(acceleration, "median_seconds", lambda fn, *a, **k: pytest.fail("measured"))
    detector = create_detector("anomalydino", model="tiny-dino", device="cpu", random_weights=True, backend="auto")
    assert detector.info.backend == "torch"


def test_unknown_backend_is_a_clear_error(tiny_registry):
    with pytest.raises(InspectorError, match="Unknown backend 'onnx'"):
        create_detector("anomalydino", model="tiny-dino", device="cpu", random_weights=True, backend="onnx")


def test_bench_measures_int8_agreement_and_tiles_and_names_the_cpu(tmp_path, tiny_registry):
    from inspector.bench import BenchConfig, _run_config, format_table

    write_parts(tmp_path / "parts", 3, defect_every=3)
    write_parts(tmp_path / "good", 4, defect_every=0)
    common = dict(detector="anomalydino", model="tiny-dino", repeats=1, random_weights=True)
    int8 = _run_config(
        BenchConfig(
            **common,
            backend="openvino",
            dtype="int8",
            image_folder=str(tmp_path / "parts"),
            good_folder=str(tmp_path / "good"),
        )
    )
    assert int8.backend == "openvino" and int8.dtype == "int8"
    assert -1.0 <= int8.int8_pearson <= 1.0 and int8.int8_score_diff >= 0.0
    tiled = _run_config(
        BenchConfig(**common, backend="torch", tiles="2x2", image_size="200x150", image_folder=str(tmp_path / "parts"))
    )
    assert tiled.tiles == "2x2" and tiled.timings[0].images_per_s > 0 and tiled.int8_pearson is None
    table = format_table([int8, tiled], (1.0, 2.0, 3.0), (1.5, 2.0, 3.0))
    assert "CPU: " in table and "load average (1/5/15 min) at start 1.0/2.0/3.0" in table
    assert "accepted" in table or "REFUSED" in table
    with pytest.raises(InspectorError, match="good images"):
        _run_config(BenchConfig(**common, backend="openvino", dtype="int8", image_folder=str(tmp_path / "parts")))


@pytest.mark.parametrize("winner", ["torch", "openvino"])
def test_auto_keeps_the_weights_fingerprint_whichever_backend_wins(tiny_registry, monkeypatch, winner):
    # A calibration records detector.info.fingerprint; the torch copy in bf16 once lost it, so a
    # real-weights threshold was saved with no fingerprint whenever torch measured faster.
    timings = iter([1.0, 2.0] if winner == "torch" else [2.0, 1.0])
    monkeypatch.setattr(acceleration, "median_seconds", lambda fn, *a, **k: next(timings))
    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import get_spec
    from inspector.detectors.anomalydino import AnomalyDinoDetector

    loaded = load_model(get_spec("tiny-dino"), make_runtime("cpu", "float32"), random_weights=True)
    loaded.fingerprint = "sha256:" + "ab" * 32  # as if imported from a folder
    detector = acceleration.auto_backend(
        loaded, "bfloat16", lambda m: AnomalyDinoDetector(m, resolution=56), "anomalydino:tiny-dino:56"
    )
    assert detector.info.backend == winner
    assert detector.info.fingerprint == loaded.fingerprint
    assert detector.info.dtype == "bfloat16"
