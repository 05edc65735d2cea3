"""The detectors' defaults follow the papers / reference code, pinned to hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.backbones.runtime import Runtime
from inspector.detectors.base import preprocess, resize_tensor
from inspector.detectors.prompts import (
    ANOMALIB_TEMPLATES,
    ANOMALOUS_STATES,
    NORMAL_STATES,
    TEMPLATES,
    build_prompt_ensemble,
)
from inspector.detectors.vit_runtime import linear_shapes, onednn_linear_works
from inspector.detectors.winclip import TEMPERATURE, WinClipDetector
from inspector.errors import InspectorError
from tests.helpers import TINY_CLIP

CPU32 = Runtime("cpu", "float32")


# -- resizing: antialiased bicubic on the float tensor -------------------------------------------
def _cubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """Antialiased bicubic resampling as a matrix (the kernel stretched by the shrink factor)."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - 2 * stretch + 0.5), 0), min(int(center + 2 * stretch + 0.5), n_in)
        w = np.array([_cubic((j - center + 0.5) / stretch) for j in range(lo, hi)])
        out[i, lo:hi] = w / w.sum()
    return out


def test_a_step_halved_by_hand():
    from inspector._torch import import_torch

    torch = import_torch()
    # weights of output 0: cubic(-0.25), cubic(0.25), cubic(0.75), cubic(1.25) = 111/128, 111/128, 29/128, -9/128
    # -> (29 - 9) / (111 + 111 + 29 - 9) = 20/242 = 10/121. Area averaging would give 0 and 1.
    x = torch.tensor([[[[0.0, 0.0, 1.0, 1.0]]]])
    out = resize_tensor(x, (1, 2))[0, 0, 0].tolist()
    assert out == pytest.approx([10 / 121, 111 / 121], abs=1e-6)


@pytest.mark.parametrize(("shape", "size"), [((7, 20), (8, 8)), ((40, 30), (8, 8)), ((5, 6), (12, 9))])
def test_preprocess_resizes_each_axis_like_the_reference_even_when_only_one_side_is_larger(shape, size):
    """(7, 20) -> (8, 8) is the old bug's case: wider than the input, not taller."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    x = preprocess([image], size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), CPU32)[0].double().numpy()
    for c in range(3):
        want = _weights(shape[0], size[0]) @ (image[:, :, c] / 255.0) @ _weights(shape[1], size[1]).T
        assert np.abs(x[c] - want).max() < 1e-5


def test_the_registry_interpolation_is_the_one_applied():
    from inspector.core.registry import get_spec, load_registry

    assert {s.interpolation for s in load_registry().values()} == {"bicubic"}
    assert get_spec("dinov2-small").interpolation == "bicubic"
    image = np.zeros((6, 6, 3), np.uint8)
    image[:, 3:] = 255
    nearest = preprocess([image], (3, 3), (0, 0, 0), (1, 1, 1), CPU32, "nearest")[0, 0].numpy()
    assert set(np.unique(nearest)) <= {0.0, 1.0}


# -- WinCLIP: prompts, temperature, maps -------------------------------------------------------------
def test_the_prompt_lists_are_the_papers():
    assert NORMAL_STATES == (
        "{}",
        "flawless {}",
        "perfect {}",
        "unblemished {}",
        "{} without flaw",
        "{} without defect",
        "{} without damage",
    )
    assert ANOMALOUS_STATES == ("damaged {}", "{} with flaw", "{} with defect", "{} with damage")
    assert len(TEMPLATES) == len(set(TEMPLATES)) == 22
    for article in ("a", "the"):
        for kind in ("cropped", "close-up", "bright", "dark", "jpeg corrupted", "blurry"):
            assert f"a {kind} photo of {article} {{}}." in TEMPLATES
    ensemble = build_prompt_ensemble("screw")
    assert (len(ensemble.normal), len(ensemble.anomalous)) == (7 * 22, 4 * 22)
    assert ensemble.anomalous[0] == "a cropped photo of the damaged screw."


def test_anomalibs_list_is_a_named_option_with_its_duplicate():
    assert len(ANOMALIB_TEMPLATES) == 21 and len(set(ANOMALIB_TEMPLATES)) == 20
    assert ANOMALIB_TEMPLATES.count("a jpeg corrupted photo of the {}.") == 2
    assert set(TEMPLATES) - set(ANOMALIB_TEMPLATES) == {"a cropped photo of a {}.", "a jpeg corrupted photo of a {}."}
    assert len(build_prompt_ensemble("screw", prompt_set="anomalib").normal) == 7 * 21
    with pytest.raises(ValueError, match="prompt set"):
        build_prompt_ensemble("screw", prompt_set="mine")


@pytest.fixture(scope="module")
def tiny():
    from inspector.backbones.loading import load_model
    from inspector.core.registry import ModelSpec

    return load_model(ModelSpec.from_dict(TINY_CLIP), CPU32, random_weights=True)


def test_text_scores_use_the_fixed_temperature_0_07(tiny):
    from inspector._torch import import_torch

    torch = import_torch()
    assert TEMPERATURE == 0.07
    det = WinClipDetector(tiny, object_name="screw")
    assert det.logit_scale == pytest.approx(1 / 0.07)
    # prototypes e0 (normal), e1 (anomalous); an embedding at cosines 0.6 and 0.8 with them
    det._text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = float(det._anomaly_probability(torch.tensor([[0.6, 0.8]]))[0])
    assert p == pytest.approx(np.exp(0.8 / 0.07) / (np.exp(0.6 / 0.07) + np.exp(0.8 / 0.07)), rel=1e-6)

    learned = WinClipDetector(tiny, object_name="screw", temperature="learned")
    assert learned.logit_scale == pytest.approx(min(float(tiny.model.logit_scale.exp()), 100.0), rel=1e-6)
    with pytest.raises(InspectorError, match="temperature"):
        WinClipDetector(tiny, object_name="screw", temperature=0)


def test_winclip_maps_are_not_blurred_unless_asked(tiny):
    import cv2

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    det = WinClipDetector(tiny, object_name="screw")
    assert det.map_sigma == 0.0
    _, grid = det.score_embeddings(det.embed([image]))
    h, w = det._vit.image_size
    up = cv2.resize(grid[0].astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    want = np.clip(cv2.resize(up, (70, 50), interpolation=cv2.INTER_LINEAR), 0, 1)
    got = det.predict([image])[0].anomaly_map
    assert np.abs(got - want).max() < 1e-6
    blurred = WinClipDetector(tiny, object_name="screw", map_sigma=4.0).predict([image])[0].anomaly_map
    assert np.abs(blurred - got).max() > 1e-4


def test_the_onednn_check_runs_at_the_models_own_layer_shapes_and_dtype(tiny, monkeypatch):
    from inspector.detectors import vit_runtime

    shapes = linear_shapes(list(tiny.model.visual.transformer.resblocks))
    width = TINY_CLIP["config"]["vision_cfg"]["width"]
    assert set(shapes) == {(width, 3 * width), (width, width), (width, 4 * width), (4 * width, width)}
    asked = []

    def record(dtype, shapes=()):
        asked.append((dtype, shapes))
        return False

    monkeypatch.setattr(vit_runtime, "onednn_linear_works", record)
    det = WinClipDetector(tiny, object_name="screw")
    assert asked == [("float32", shapes)] and det._vit.packed is False
    monkeypatch.undo()
    for dtype in ("float32", "bfloat16"):
        assert isinstance(onednn_linear_works(dtype, shapes), bool)
