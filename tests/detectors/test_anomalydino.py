"""AnomalyDINO on a tiny DINOv2 (real architecture, random weights) and on real images."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.backbones.loading import load_model
from inspector.backbones.runtime import make_runtime
from inspector.core.registry import ModelSpec
from inspector.detectors.anomalydino import (
    AnomalyDinoDetector,
    background_mask,
    nearest_neighbour_distances,
    top_fraction_mean,
)
from inspector.detectors.base import Detector
from inspector.errors import InspectorError
from tests.conftest import shared_dataset

TINY = {
    "id": "tiny-dino",
    "role": "vision",
    "backend": "transformers",
    "architecture": "Dinov2Model",
    "input_size": 56,
    "patch_size": 14,
    "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "config": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "patch_size": 14,
        "image_size": 56,
    },
}


def _tiny(dtype: str):
    from inspector._torch import import_torch

    import_torch().manual_seed(0)
    return load_model(ModelSpec.from_dict(TINY), make_runtime("cpu", dtype), random_weights=True)


@pytest.fixture(scope="module")
def tiny():
    return _tiny("float32")


@pytest.fixture(scope="module")
def tiny_bf16():
    return _tiny("bfloat16")


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture: every patch differs from every other."""
    import cv2

    low = np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)


def with_defect(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    out = image.copy()
    out[top : top + size, left : left + size] = (255, 255, 255)
    out[top + size // 3 : top + 2 * size // 3, left : left + size] = (0, 0, 0)
    return out


def test_protocol_and_info(tiny):
    det = AnomalyDinoDetector(tiny, resolution=56)
    assert isinstance(det, Detector)
    assert det.needs_references is True
    assert det.info.detector == "anomalydino"
    assert det.info.model_id == "tiny-dino"
    assert det.info.random_weights is True and det.info.shots == 0
    det.fit([texture(60, 60), texture(60, 60, seed=1)])
    assert det.info.shots == 2
    assert det.memory_bank_size == 2 * 16
    assert "2-shot" in det.info.describe()


def test_predict_before_fit_is_a_clear_error(tiny):
    det = AnomalyDinoDetector(tiny, resolution=56)
    with pytest.raises(InspectorError, match="fit"):
        det.predict([texture(56, 56)])


def test_resolution_must_be_a_multiple_of_the_patch_size(tiny):
    with pytest.raises(InspectorError, match="multiple of the patch size"):
        AnomalyDinoDetector(tiny, resolution=100)


def test_maps_have_each_images_resolution(tiny):
    det = AnomalyDinoDetector(tiny, resolution=112)
    det.fit([texture(90, 130)])
    sizes = [(56, 56), (70, 121), (131, 45), (300, 200)]
    images = [texture(h, w, seed=i + 3) for i, (h, w) in enumerate(sizes)]
    images.append(texture(64, 64)[:, :, 0])  # grayscale is accepted too
    preds = det.predict(images)
    assert len(preds) == len(images)
    for pred, image in zip(preds, images, strict=True):
        assert pred.anomaly_map.shape == image.shape[:2]
        assert pred.anomaly_map.dtype == np.float32
        assert np.isfinite(pred.anomaly_map).all()
        assert isinstance(pred.score, float) and pred.score >= 0.0
        assert pred.random_weights is True
    assert det.predict([]) == []


@pytest.mark.parametrize("model", ["tiny", "tiny_bf16"])
def test_identical_image_scores_zero_and_defect_is_found(model, request):
    loaded = request.getfixturevalue(model)
    det = AnomalyDinoDetector(loaded, resolution=112)
    ref = texture(224, 168)  # 2x the model input in height, 1.5x in width
    det.fit([ref])
    top, left, size = 120, 40, 40  # image pixels; patch grid rows 4-5, columns 2-3 at 112 px
    good, bad = det.predict([ref, with_defect(ref, top, left, size)])
    tol = 1e-5 if loaded.runtime.dtype == "float32" else 1e-3
    assert good.score < tol
    assert float(good.anomaly_map.max()) < tol
    assert bad.score > 0.05
    assert bad.score > 50 * max(good.score, 1e-4)
    row, col = np.unravel_index(np.argmax(bad.anomaly_map), bad.anomaly_map.shape)
    assert top - 8 <= row < top + size + 8
    assert left - 8 <= col < left + size + 8
    # the map's mass is on the defect, not spread over the part
    inside = bad.anomaly_map[top : top + size, left : left + size].mean()
    far = bad.anomaly_map[:60].mean()
    assert inside > 5 * far


def test_image_score_is_mean_of_top_one_percent_patches(tiny):
    det = AnomalyDinoDetector(tiny, resolution=252)  # 18 x 18 = 324 patches -> top 3
    ref = texture(252, 252)
    det.fit([ref])
    test = with_defect(ref, 100, 100, 30)
    dist = det.patch_distances([test])[0]
    assert dist.shape == (18, 18)
    by_hand = np.sort(dist.ravel())[::-1][:3].mean()
    assert det.predict([test])[0].score == pytest.approx(by_hand, rel=1e-6)


def test_top_fraction_mean_by_hand():
    d = np.arange(1000, dtype=np.float32) / 1000.0
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(d)
    # int(1000 * 0.01) = 10 highest: 0.990 ... 0.999
    assert top_fraction_mean(shuffled[None], 0.01)[0] == pytest.approx(0.9945)
    assert top_fraction_mean(shuffled[None], 0.05)[0] == pytest.approx(np.mean(d[-50:]))
    # fewer than 100 patches: the reference code falls back to the maximum
    small = np.array([[0.1, 0.7, 0.3, 0.2]])
    assert top_fraction_mean(small, 0.01)[0] == pytest.approx(0.7)
    two = np.stack([shuffled, shuffled * 2])
    assert top_fraction_mean(two, 0.01) == pytest.approx([0.9945, 1.989])


def test_outputs_are_deterministic(tiny):
    images = [with_defect(texture(150, 100), 20, 20, 30), texture(80, 80, seed=5)]
    a = AnomalyDinoDetector(tiny, resolution=112)
    a.fit([texture(150, 100)])
    first = a.predict(images)
    again = a.predict(images)
    b = AnomalyDinoDetector(tiny, resolution=112, batch_size=1)
    b.fit([texture(150, 100)])
    other = b.predict(images)
    for p, q, r in zip(first, again, other, strict=True):
        assert p.score == q.score
        np.testing.assert_array_equal(p.anomaly_map, q.anomaly_map)
        assert p.score == pytest.approx(r.score, abs=1e-6)
        np.testing.assert_allclose(p.anomaly_map, r.anomaly_map, atol=1e-5)


def test_reduced_precision_search_matches_exact_search():
    from inspector._torch import import_torch

    torch = import_torch()
    gen = torch.Generator().manual_seed(0)
    bank = torch.nn.functional.normalize(torch.randn(3000, 64, generator=gen), dim=1)
    others = torch.nn.functional.normalize(torch.randn(200, 64, generator=gen), dim=1)
    queries = torch.cat([bank[:50], others])
    exact = (1 - (queries @ bank.T).amax(dim=1)).clamp(min=0)
    fast = nearest_neighbour_distances(queries, bank, bank.T.to(torch.bfloat16).contiguous())
    assert torch.all(fast[:50] < 1e-6)  # exact copies of bank entries
    assert torch.all(fast >= exact - 1e-6)  # a real distance, never below the true NN
    assert float((fast - exact).abs().max()) < 1e-2
    np.testing.assert_allclose(nearest_neighbour_distances(queries, bank).numpy(), exact.numpy(), atol=1e-6)


def test_chunked_search_equals_one_shot(monkeypatch):
    from inspector._torch import import_torch
    from inspector.detectors import anomalydino

    torch = import_torch()
    gen = torch.Generator().manual_seed(1)
    bank = torch.nn.functional.normalize(torch.randn(500, 16, generator=gen), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(333, 16, generator=gen), dim=1)
    whole = nearest_neighbour_distances(queries, bank)
    monkeypatch.setattr(anomalydino, "_SIM_CHUNK_ELEMENTS", 500 * 7)  # 7 queries per chunk
    torch.testing.assert_close(nearest_neighbour_distances(queries, bank), whole)


def _square_case(foreground: float, background: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 0.3, (10, 10, 8))
    feats[..., 0] += background
    feats[3:7, 3:7, 0] += foreground - background
    return feats.reshape(100, 8)


@pytest.mark.parametrize("foreground,background", [(20.0, 0.0), (0.0, 20.0), (-20.0, 0.0), (3.0, 25.0)])
def test_background_mask_on_hand_built_features(foreground, background):
    # object: the 4x4 centre patches, clearly apart from the background along one feature axis;
    # whatever the component's sign, the mask is the object dilated by one patch (6x6)
    mask = background_mask(_square_case(foreground, background), (10, 10), threshold=10.0)
    expected = np.zeros((10, 10), dtype=bool)
    expected[2:8, 2:8] = True
    np.testing.assert_array_equal(mask.reshape(10, 10), expected)


def test_background_mask_keeps_nothing_below_threshold():
    mask = background_mask(_square_case(2.0, 0.0), (10, 10), threshold=10.0)
    assert not mask.any()


def test_masking_zeroes_background_patches(tiny):
    ref = texture(224, 224)
    test = with_defect(ref, 80, 80, 60)
    plain = AnomalyDinoDetector(tiny, resolution=224)
    plain.fit([ref])
    # random weights: the paper's threshold (10) has no meaning for this model's feature scale, so
    # pick one that masks a real part of this image's patches
    feats = plain.patch_features([test])[0].numpy()
    for threshold in np.linspace(0.0, 20.0, 81):
        keep = background_mask(feats, (16, 16), threshold=threshold)
        if 0.2 * keep.size < keep.sum() < 0.8 * keep.size:
            break
    else:
        pytest.fail("no threshold masks part of the image")
    masked = AnomalyDinoDetector(tiny, resolution=224, masking=True, mask_threshold=threshold)
    masked.fit([ref])
    assert masked.memory_bank_size == plain.memory_bank_size  # references unmasked by default
    d_plain = plain.patch_distances([test])[0].ravel()
    d_masked = masked.patch_distances([test])[0].ravel()
    assert np.all(d_masked[~keep] == 0.0)
    assert np.any(d_plain[~keep] > 0.01)  # masking really removed something
    np.testing.assert_allclose(d_masked[keep], d_plain[keep], atol=1e-6)
    top = np.sort(d_masked)[::-1][:2].mean()  # 256 patches -> mean of the top 2, masked ones count as 0
    assert masked.predict([test])[0].score == pytest.approx(top, rel=1e-6)

    both = AnomalyDinoDetector(tiny, resolution=224, masking=True, mask_references=True, mask_threshold=threshold)
    both.fit([ref])
    ref_keep = background_mask(plain.patch_features([ref])[0].numpy(), (16, 16), threshold=threshold)
    assert both.memory_bank_size == int(ref_keep.sum()) < plain.memory_bank_size


def test_rotation_augmentation_covers_rotated_parts(tiny):
    ref = texture(112, 112)
    rotated = np.ascontiguousarray(np.rot90(ref))
    plain = AnomalyDinoDetector(tiny, resolution=112)
    plain.fit([ref])
    augmented = AnomalyDinoDetector(tiny, resolution=112, augment_rotations=True)
    augmented.fit([ref])
    assert augmented.memory_bank_size == 8 * plain.memory_bank_size
    assert augmented.info.shots == 1
    s_plain = plain.predict([rotated])[0].score
    s_aug = augmented.predict([rotated])[0].score
    assert s_aug < 0.5 * s_plain


def test_encoder_forward_runs_without_references(tiny):
    det = AnomalyDinoDetector(tiny, resolution=56)
    assert det.encoder_forward([texture(80, 60), texture(40, 40)]) is None


def test_on_real_magnetic_tile_images(tiny):
    import cv2

    root = shared_dataset("magnetic_tile") / "magnetic_tile"

    def read(path):
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    ref_path = sorted((root / "train" / "good").glob("*.jpg"))[0]
    test_paths = [sorted((root / "test" / kind).glob("*.jpg"))[0] for kind in ("good", "crack", "blowhole")]
    det = AnomalyDinoDetector(tiny, resolution=112)
    ref = read(ref_path)
    det.fit([ref])
    images = [read(p) for p in test_paths]
    assert len({i.shape for i in images}) > 1  # the batch really mixes sizes
    preds = det.predict([ref, *images])
    for pred, image in zip(preds, [ref, *images], strict=True):
        assert pred.anomaly_map.shape == image.shape[:2]
        assert np.isfinite(pred.anomaly_map).all() and pred.score >= 0.0
    assert preds[0].score < 1e-5  # the reference itself
    assert all(p.score > preds[0].score for p in preds[1:])
