"""The OpenVINO backend on tiny real architectures: agreement with torch, self-check, cache, INT8 gate."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("openvino")

from inspector.backbones import openvino_backend as ovb  # noqa: E402
from inspector.backbones.loading import load_model  # noqa: E402
from inspector.backbones.runtime import make_runtime  # noqa: E402
from inspector.core.registry import ModelSpec  # noqa: E402
from inspector.detectors.acceleration import Int8Gate, _dino_graph, try_int8  # noqa: E402
from inspector.detectors.anomalydino import AnomalyDinoDetector  # noqa: E402
from tests.helpers import TINY_DINO, texture  # noqa: E402


def _loaded(seed: int = 0):
    from inspector._torch import import_torch

    import_torch().manual_seed(seed)
    return load_model(ModelSpec.from_dict(TINY_DINO), make_runtime("cpu", "float32"), random_weights=True)


@pytest.fixture(scope="module")
def loaded():
    return _loaded()


@pytest.fixture(scope="module")
def cache(tmp_path_factory, loaded):
    """One conversion of the tiny DINOv2 for the whole module (the detectors below hit it)."""
    folder = tmp_path_factory.mktemp("ov-cache")
    first = _compile(loaded, folder)
    assert not first.from_cache
    return folder


@pytest.fixture(autouse=True)
def _shared_cache(cache, monkeypatch):
    monkeypatch.setenv("INSPECTOR_OPENVINO_CACHE", str(cache))


def _compile(loaded, cache, **kw):
    from inspector._torch import import_torch

    torch = import_torch()
    example = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    return ovb.compile_module(
        _dino_graph(loaded.model),
        (example,),
        graph="dinov2-last-hidden/tiny-dino",  # as compile_dino names it
        fingerprint=ovb.weights_fingerprint(loaded.model),
        input_shapes=[(-1, 3, 56, 56)],
        cache=cache,
        **kw,
    )


def test_openvino_anomalydino_matches_torch(loaded):
    detector = AnomalyDinoDetector(loaded, resolution=56)
    detector.fit([texture(80, 96, 0)])
    images = [texture(80, 96, s) for s in (1, 2, 3)]
    base = detector.predict(images)
    detector.use_openvino("float32")
    assert detector.info.backend == "openvino" and detector.encoder.check.max_relative_error < 1e-4
    fast = detector.predict(images)
    for a, b in zip(base, fast, strict=True):
        assert abs(a.score - b.score) < 1e-4
        np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, atol=1e-4)
    detector.use_torch()
    assert detector.info.backend == "torch"
    assert detector.predict(images[:1])[0].score == pytest.approx(base[0].score, abs=1e-6)


def test_cache_is_hit_on_the_second_load(loaded, cache, monkeypatch):
    calls = []
    real = ovb._convert
    monkeypatch.setattr(ovb, "_convert", lambda *a: calls.append(1) or real(*a))
    second = _compile(loaded, cache)  # the fixture converted it once
    assert second.from_cache and calls == []  # not converted again
    assert second.path.is_file() and second.path.is_relative_to(cache)
    other = _compile(loaded, cache, precision="bfloat16")
    assert other.from_cache and calls == []  # bf16 is a compile hint on the same converted model
    # other weights have another fingerprint, hence another entry
    other_weights = copy.deepcopy(loaded.model)
    first_param = next(other_weights.parameters())
    first_param.data[0] += 1.0
    assert ovb.weights_fingerprint(other_weights) != second.request.fingerprint


def test_self_check_refuses_a_broken_compiled_model(loaded, tmp_path, monkeypatch):
    from inspector._torch import import_torch

    torch = import_torch()
    broken = copy.deepcopy(loaded.model)
    with torch.no_grad():
        broken.encoder.layer[0].mlp.fc1.weight.mul_(-3.0)  # a real model, but not this one
    real = ovb._convert
    monkeypatch.setattr(ovb, "_convert", lambda module, *a: real(_dino_graph(broken), *a))
    with pytest.raises(ovb.BackendCheckError, match="disagrees with torch"):
        _compile(loaded, tmp_path)
    assert not list((tmp_path / "models").glob("*/model.xml"))  # nothing refused stays in the cache


def test_a_corrupt_cached_model_is_rebuilt(loaded, cache, tmp_path):
    import shutil

    shutil.copytree(cache / "models", tmp_path / "models")
    first = _compile(loaded, tmp_path)
    assert first.from_cache
    weights = first.path.with_suffix(".bin")
    data = bytearray(weights.read_bytes())
    rng = np.random.default_rng(0)
    data[: len(data) // 2] = rng.integers(0, 256, len(data) // 2, dtype=np.uint8).tobytes()
    weights.write_bytes(bytes(data))
    again = _compile(loaded, tmp_path)
    assert not again.from_cache and again.check.max_relative_error < 1e-4


def test_compare_outputs_measures_error_and_cosine():
    ref = [np.array([[1.0, 0.0], [0.0, 2.0]])]
    assert ovb.compare_outputs(ref, ref).within(ovb.SELF_CHECK["float32"])
    flipped = ovb.compare_outputs(ref, [np.array([[-1.0, 0.0], [0.0, 2.0]])])
    assert flipped.min_cosine == pytest.approx(-1.0) and not flipped.within(ovb.SELF_CHECK["int8"])
    assert not ovb.compare_outputs(ref, [np.full((2, 2), np.nan)]).within(ovb.SELF_CHECK["int8"])


def test_int8_gate_refuses_when_agreement_is_too_low(loaded):
    detector = AnomalyDinoDetector(loaded, resolution=56)
    detector.fit([texture(80, 96, 0)])
    detector.use_openvino("float32")
    good = [texture(80, 96, s) for s in (4, 5, 6, 7)]
    before = detector.predict(good)
    # INT8 rounds: its maps cannot agree with fp32 to 1e-9, so this gate must refuse it.
    strict = Int8Gate(min_map_pearson=1.0 - 1e-12, max_score_diff=1e-9)
    report = try_int8(detector, good, strict)
    assert not report.accepted and "refused" in report.describe()
    assert report.score_diff > 0.0 and report.map_pearson < 1.0
    assert detector.info.backend == "openvino" and detector.info.dtype == "float32"  # back where it was
    after = detector.predict(good)
    assert [p.score for p in after] == pytest.approx([p.score for p in before], abs=1e-6)
    # the stated gate (Pearson >= 0.99, score within 0.01) accepts this model's INT8
    report = try_int8(detector, good)
    assert report.accepted, report.describe()
    assert detector.info.dtype == "int8"
    # the check's own timings are told with its verdict (whichever is faster on this machine)
    assert report.float_s > 0 and report.int8_s > 0
    assert (
        f"Measured {report.int8_s:.3g} s per part in INT8 against {report.float_s:.3g} s in fp32" in report.describe()
    )


def test_the_int8_report_says_when_int8_is_not_faster():
    from inspector.detectors.acceleration import Int8Report

    faster = Int8Report(True, 0.999, 0.001, 8, Int8Gate(), float_s=0.9, int8_s=0.3)
    assert faster.describe().endswith("Measured 0.3 s per part in INT8 against 0.9 s in fp32 (3.0x faster)")
    slower = Int8Report(True, 0.999, 0.001, 8, Int8Gate(), float_s=0.9, int8_s=1.2)
    assert slower.accepted  # told, not decided on: one check's timing is too noisy to refuse on
    assert "INT8 is not faster on this CPU (inspector bench --dtype int8 measures it properly)" in slower.describe()
    assert "Measured" not in Int8Report(True, 0.999, 0.001, 8, Int8Gate()).describe()


def test_openvino_winclip_window_pass_matches_torch():
    """WinCLIP+ on a tiny CLIP: image, patch and window embeddings through OpenVINO give the same maps."""
    from inspector.detectors.winclip import WinClipDetector
    from tests.helpers import TINY_CLIP

    clip = load_model(ModelSpec.from_dict(TINY_CLIP), make_runtime("cpu", "float32"), random_weights=True)
    detector = WinClipDetector(clip, object_name="part", few_shot=True)
    detector.fit([texture(80, 96, 0)])
    images = [texture(80, 96, s) for s in (1, 2)]
    base = detector.predict(images)
    detector.use_openvino("float32")
    assert detector.info.backend == "openvino" and detector.encoder.check.max_relative_error < 1e-4
    fast = detector.predict(images)
    for a, b in zip(base, fast, strict=True):
        assert abs(a.score - b.score) < 1e-4
        np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, atol=1e-4)
    torch_windows = detector.embed(images[:1]).windows
    detector.use_torch()
    reference = detector.embed(images[:1]).windows
    for k in detector.scales:
        np.testing.assert_allclose(torch_windows[k].numpy(), reference[k].numpy(), atol=1e-4)
