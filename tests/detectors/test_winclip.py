"""WinCLIP / WinCLIP+ on a tiny open_clip architecture with random weights."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.detectors import vit_runtime
from inspector.detectors.base import Detector, preprocess
from inspector.detectors.prompts import build_prompt_ensemble
from inspector.detectors.vit_runtime import encode_text, window_indices
from inspector.detectors.winclip import WinClipDetector, harmonic_aggregation
from inspector.errors import InspectorError
from tests.helpers import TINY_CLIP


@pytest.fixture(scope="module")
def tiny():
    from inspector._torch import import_torch
    from inspector.backbones.loading import load_model
    from inspector.backbones.runtime import make_runtime
    from inspector.core.registry import ModelSpec

    import_torch().manual_seed(0)
    return load_model(ModelSpec.from_dict(TINY_CLIP), make_runtime("cpu", "float32"), random_weights=True)


@pytest.fixture(scope="module")
def detector(tiny):
    return WinClipDetector(tiny, "screw")


def _images(seed: int, sizes=((50, 70), (64, 64), (100, 30))):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


# -- pure aggregation ---------------------------------------------------------------------------
def test_window_indices_3x3_grid_2x2_windows():
    np.testing.assert_array_equal(window_indices((3, 3), 2), [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    assert window_indices((15, 15), 2).shape == (196, 4)
    assert window_indices((15, 15), 3).shape == (169, 9)
    with pytest.raises(ValueError):
        window_indices((2, 3), 3)


def test_harmonic_aggregation_by_hand():
    windows = window_indices((3, 3), 2)
    scores = np.array([[1.0, 0.75, 0.5, 0.25]])
    out = harmonic_aggregation(scores, windows, (3, 3))
    # Corner patches lie in one window; edge patches in two; the centre in all four.
    centre = 4 / (1 / 1.0 + 1 / 0.75 + 1 / 0.5 + 1 / 0.25)
    expected = [
        [1.0, 2 / (1 / 1.0 + 1 / 0.75), 0.75],
        [2 / (1 / 1.0 + 1 / 0.5), centre, 2 / (1 / 0.75 + 1 / 0.25)],
        [0.5, 2 / (1 / 0.5 + 1 / 0.25), 0.25],
    ]
    np.testing.assert_allclose(out, [expected], rtol=1e-12)
    np.testing.assert_allclose(out[0, 1, 1], 0.48)
    # A window scoring 0 pulls every patch it covers to 0, without NaN or inf.
    zero = harmonic_aggregation(np.array([0.0, 0.5, 0.5, 0.5]), windows, (3, 3))
    assert np.isfinite(zero).all()
    assert zero[0, 0] == pytest.approx(0.0, abs=1e-9) and zero[1, 1] == pytest.approx(0.0, abs=1e-9)
    assert zero[2, 2] == pytest.approx(0.5)


# -- the batched short-sequence path against the plain open_clip model ------------------------------
def _naive_reference(loaded, images, scales=(2, 3)):
    """open_clip's own modules, one window at a time: the ViT on the class token + the window's tokens."""
    from inspector._torch import import_torch

    torch = import_torch()
    visual = loaded.model.visual
    captured = {}
    handle = visual.ln_pre.register_forward_hook(lambda _m, _i, out: captured.__setitem__("tokens", out))
    x = preprocess(images, (64, 64), loaded.spec.mean, loaded.spec.std, loaded.runtime)
    with torch.inference_mode():
        image = loaded.model.encode_image(x)
        handle.remove()
        tokens = captured["tokens"]
        patches = visual.ln_post(visual.transformer(tokens))[:, 1:]
        windows = {}
        for k in scales:
            per_image = []
            for b in range(len(images)):
                rows = []
                for window in window_indices((4, 4), k):
                    sequence = tokens[b : b + 1, [0, *(window + 1).tolist()]]
                    out = visual.transformer(sequence)
                    rows.append(visual.ln_post(out[:, 0]) @ visual.proj)
                per_image.append(torch.cat(rows))
            windows[k] = torch.stack(per_image)
    return image, windows, patches


@pytest.mark.parametrize("batch_windows", [None, 5])
def test_window_embeddings_equal_naive_per_window_forward(tiny, batch_windows):
    images = _images(1, sizes=((64, 64), (40, 90)))
    det = WinClipDetector(tiny, "screw", batch_windows=batch_windows)
    emb = det.embed(images, patch_tokens=True)
    image, windows, patches = _naive_reference(tiny, images)
    assert emb.windows[2].shape == (2, 9, 32) and emb.windows[3].shape == (2, 4, 32)
    np.testing.assert_allclose(emb.image.numpy(), image.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(emb.patches.numpy(), patches.numpy(), atol=1e-5, rtol=1e-5)
    for k in (2, 3):
        np.testing.assert_allclose(emb.windows[k].numpy(), windows[k].numpy(), atol=1e-5, rtol=1e-5)


def test_plain_torch_path_equals_onednn_path(tiny, monkeypatch):
    """The eager fallback (GPUs, CPUs without oneDNN) computes the same embeddings."""
    images = _images(2, sizes=((64, 64),))
    fast = WinClipDetector(tiny, "screw").embed(images, patch_tokens=True)
    monkeypatch.setattr(vit_runtime, "onednn_linear_works", lambda dtype, shapes=(): False)
    plain_detector = WinClipDetector(tiny, "screw")
    assert not plain_detector._vit.packed
    plain = plain_detector.embed(images, patch_tokens=True)
    for k in (2, 3):
        np.testing.assert_allclose(fast.windows[k].numpy(), plain.windows[k].numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(fast.patches.numpy(), plain.patches.numpy(), atol=1e-5, rtol=1e-5)


def test_truncated_text_encoding_equals_open_clip(tiny):
    from inspector._torch import import_torch

    torch = import_torch()
    tokens = tiny.tokenizer(build_prompt_ensemble("metal nut").anomalous[:20])
    with torch.inference_mode():
        np.testing.assert_allclose(
            encode_text(tiny.model, tokens).numpy(), tiny.model.encode_text(tokens).numpy(), atol=1e-5, rtol=1e-5
        )


# -- predictions --------------------------------------------------------------------------------
def test_zero_shot_predictions_at_input_resolution(tiny, detector):
    assert isinstance(detector, Detector)
    assert not detector.needs_references
    assert detector.info.detector == "winclip" and detector.info.model_id == "tiny-clip"
    assert detector.info.random_weights and detector.info.shots == 0
    images = _images(3) + [np.full((33, 47), 128, dtype=np.uint8)]  # a grayscale one too
    predictions = detector.predict(images)
    assert len(predictions) == len(images)
    for image, prediction in zip(images, predictions, strict=True):
        assert prediction.anomaly_map.shape == image.shape[:2]
        assert prediction.anomaly_map.dtype == np.float32
        assert np.isfinite(prediction.anomaly_map).all()
        assert 0.0 <= prediction.anomaly_map.min() <= prediction.anomaly_map.max() <= 1.0
        assert type(prediction.score) is float and 0.0 <= prediction.score <= 1.0
        assert prediction.random_weights
    assert detector.predict([]) == []


def test_predictions_are_deterministic_and_independent_of_the_batch(detector):
    images = _images(4)
    first = detector.predict(images)
    second = detector.predict(images)
    alone = detector.predict(images[1:2])[0]
    for a, b in zip(first, second, strict=True):
        assert a.score == b.score
        np.testing.assert_array_equal(a.anomaly_map, b.anomaly_map)
    assert alone.score == pytest.approx(first[1].score, abs=1e-5)
    np.testing.assert_allclose(alone.anomaly_map, first[1].anomaly_map, atol=1e-5)
    # Different images give different maps (the map is not a constant).
    assert not np.allclose(first[0].anomaly_map[:30, :30], first[1].anomaly_map[:30, :30])


def test_zero_shot_map_combines_image_and_window_scales(tiny, detector):
    """Recompute the zero-shot map from the embeddings as the paper describes (harmonic means)."""
    from inspector._torch import import_torch

    torch = import_torch()
    images = _images(5, sizes=((64, 64),))
    emb = detector.embed(images)
    text = detector.text_embeddings

    def probability(e):
        e = torch.nn.functional.normalize(e, dim=-1)
        return (detector.logit_scale * e @ text.T).softmax(-1)[..., 1].double().numpy()

    image_score = probability(emb.image)
    maps = [np.full((1, 4, 4), image_score[0])]
    for k in (2, 3):
        maps.append(harmonic_aggregation(probability(emb.windows[k]), window_indices((4, 4), k), (4, 4)))
    expected = 3 / sum(1 / m for m in maps)
    scores, grid_maps = detector.score_embeddings(emb)
    np.testing.assert_allclose(grid_maps, expected, rtol=1e-6)
    np.testing.assert_allclose(scores, image_score, rtol=1e-6)
    assert detector.predict(images)[0].score == pytest.approx(float(image_score[0]), rel=1e-6)


def test_text_encoder_runs_once_per_object_name(tiny):
    calls = []
    handle = tiny.model.transformer.register_forward_hook(lambda *_: calls.append(1))
    try:
        det = WinClipDetector(tiny, "bottle")
        built = len(calls)
        assert built > 0
        det.predict(_images(6))
        det.predict(_images(7))
        det.set_prompts("bottle")
        assert len(calls) == built
        before = det.text_embeddings.clone()
        det.set_prompts("cable", extra_anomalous=["{} with a cut"])
        assert len(calls) > built
        assert not np.allclose(before.numpy(), det.text_embeddings.numpy())
    finally:
        handle.remove()


def test_few_shot_needs_references(tiny):
    det = WinClipDetector(tiny, "screw", few_shot=True)
    assert det.needs_references and det.info.detector == "winclip+" and det.info.shots == 0
    with pytest.raises(InspectorError, match="fit"):
        det.predict(_images(8))
    with pytest.raises(InspectorError, match="reference"):
        det.fit([])
    det.fit(_images(9, sizes=((64, 64), (80, 60))))
    assert det.info.shots == 2
    prediction = det.predict(_images(10, sizes=((45, 90),)))[0]
    assert prediction.anomaly_map.shape == (45, 90)
    assert 0.0 <= prediction.anomaly_map.min() <= prediction.anomaly_map.max() <= 1.0
    assert 0.0 <= prediction.score <= 1.0


def test_few_shot_identical_reference_scores_lower_than_a_different_image(tiny, detector):
    reference, other = _images(11, sizes=((64, 64), (64, 64)))
    det = WinClipDetector(tiny, "screw", few_shot=True)
    det.fit([reference])
    same, different = det.predict([reference, other])
    zero_same, zero_different = detector.predict([reference, other])
    # For the reference itself the few-shot map is 0: the combined map is half the zero-shot map,
    # the image score half the class-token score.
    np.testing.assert_allclose(same.anomaly_map, zero_same.anomaly_map / 2, atol=1e-5)
    assert same.score == pytest.approx(zero_same.score / 2, abs=1e-5)
    few_same = same.anomaly_map - zero_same.anomaly_map / 2
    few_different = different.anomaly_map - zero_different.anomaly_map / 2
    assert few_different.mean() > few_same.mean() + 1e-3
    assert few_different.min() > 0.0


def test_zero_shot_ignores_references_and_rejects_bad_settings(tiny, detector):
    detector.fit(_images(12))
    assert detector.info.shots == 0
    detector.encoder_forward(_images(13))
    with pytest.raises(InspectorError, match="window"):
        WinClipDetector(tiny, "screw", scales=(2, 5))
    with pytest.raises(InspectorError, match="empty"):
        WinClipDetector(tiny, "   ")
    with pytest.raises(ValueError):
        detector.predict([np.zeros((10, 10, 3), dtype=np.float32)])
