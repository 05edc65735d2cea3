"""``inspector eval``, ``inspector bench`` and recipe calibration end to end on tiny real architectures."""

from __future__ import annotations

import json

import pytest

from inspector.cli import main
from inspector.core.recipe import load_recipe
from tests.conftest import shared_dataset
from tests.helpers import make_tiny_dataset, write_parts, write_reference


def test_eval_prints_the_metric_table_and_json_marked_random(tmp_path, tiny_registry, capsys):
    dataset = make_tiny_dataset(tmp_path / "data" / "widget")
    make_tiny_dataset(tmp_path / "data" / "gadget", size=(70, 56))
    out_json = tmp_path / "eval.json"
    code = main(
        [
            "eval",
            str(tmp_path / "data"),
            "--detector",
            "anomalydino",
            "--model",
            "tiny-dino",
            "--shots",
            "1",
            "--random-weights",
            "--device",
            "cpu",
            "--json",
            str(out_json),
            "-q",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    for word in ("I-AUROC", "P-AUROC", "AUPRO@0.3", "F1-max", "widget", "gadget", "mean", "RANDOM WEIGHTS"):
        assert word in text
    report = json.loads(out_json.read_text())
    assert report["random_weights"] is True and report["shots"] == 1
    assert [c["name"] for c in report["categories"]] == ["gadget", "widget"]
    for category in report["categories"]:
        assert category["n_test"] == 4 and category["n_defective"] == 2
        for value in category["metrics"].values():
            assert value != value or 0.0 <= value <= 1.0  # NaN or a fraction
    assert dataset.is_dir()


def test_eval_on_the_real_ball_screw_dataset(tmp_path, tiny_registry, capsys):
    root = shared_dataset("bsdata")
    code = main(
        [
            "eval",
            str(root),
            "--detector",
            "anomalydino",
            "--model",
            "tiny-dino",
            "--shots",
            "2",
            "--random-weights",
            "--device",
            "cpu",
            "-q",
            "--json",
            str(tmp_path / "e.json"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "e.json").read_text())
    (category,) = report["categories"]
    assert category["name"] == "ball_screw" and category["n_test"] == 100 and category["n_defective"] == 60
    assert len(category["references"]) == 2
    assert all(0.0 <= v <= 1.0 for v in category["metrics"].values() if v == v)


def test_bench_prints_throughput_memory_and_ratio(tmp_path, tiny_registry, capsys):
    code = main(
        [
            "bench",
            "--detector",
            "anomalydino",
            "--model",
            "tiny-dino",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--backend",
            "torch",
            "--batches",
            "1,2",
            "--repeats",
            "1",
            "--random-weights",
            "--json",
            str(tmp_path / "b.json"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "anomalydino" in text and "RANDOM WEIGHTS" in text
    (result,) = json.loads((tmp_path / "b.json").read_text())
    assert (result["model_id"], result["device"], result["dtype"]) == ("tiny-dino", "cpu", "float32")
    assert result["image_size"] == "1024x1024 generated"
    assert [t["batch"] for t in result["timings"]] == [1, 2]
    for t in result["timings"]:
        # per image, not per call: a batch of 2 in s seconds is 2/s images per second
        assert t["predict_s"] > 0 and t["encoder_s"] > 0
        assert t["images_per_s"] == pytest.approx(t["batch"] / t["predict_s"], rel=1e-9)
        assert t["ratio"] == pytest.approx(t["predict_s"] / t["encoder_s"], rel=1e-9)
    b1 = result["timings"][0]
    row = next(line for line in text.splitlines() if line.startswith("anomalydino"))
    best = max(result["timings"], key=lambda t: t["images_per_s"])
    assert f"{b1['images_per_s']:.2f}" in row and f"{best['images_per_s']:.2f} @b{best['batch']}" in row
    assert result["peak_memory_mb"] > 50 and result["random_weights"] is True


def test_bench_isa_avx2_runs_the_benchmark_processes_without_avx512_and_says_so(
    tmp_path, tiny_registry, capsys, monkeypatch
):
    for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.setenv(name, "")  # restored after the test (bench --isa sets them for its children)
    args = ["bench", "--detector", "anomalydino", "--model", "tiny-dino", "--device", "cpu", "--backend", "torch"]
    try:
        out_json = tmp_path / "b.json"
        code = main(
            [*args, "--batches", "1", "--repeats", "1", "--random-weights", "--isa", "avx2", "--json", str(out_json)]
        )
        assert code == 0
        out = capsys.readouterr().out
        assert "limited to AVX2 by ONEDNN_MAX_CPU_ISA" in out.splitlines()[0]  # the table's CPU line
        (result,) = json.loads(out_json.read_text())  # no bf16 under the cap: only fp32 by default
        assert result["dtype"] == "float32"
        assert "limited to AVX2" in result["cpu"]  # as the benchmark's own process saw it
    finally:
        from inspector.backbones.machine import cpu_info

        cpu_info.cache_clear()


def test_bench_without_weights_reports_the_missing_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INSPECTOR_WEIGHTS_DIR", str(tmp_path / "w"))  # no path that names the model
    code = main(["bench", "--detector", "anomalydino", "--device", "cpu", "--dtype", "float32", "--batches", "1"])
    assert code == 3  # the documented exit code for missing weights
    out, err = capsys.readouterr()
    assert (
        "inspector models download dinov2-small" in err and "inspector models import PATH --model dinov2-small" in err
    )
    assert "Traceback" not in out + err


def test_recipe_new_then_calibrate_leave_one_out(tmp_path, tiny_registry, capsys):
    refs = write_parts(tmp_path / "refs", 4, defect_every=0)
    path = tmp_path / "r.json"
    assert (
        main(
            [
                "recipe",
                "new",
                str(path),
                "--name",
                "bracket",
                "--object",
                "bracket",
                "--detector",
                "anomalydino",
                "--model",
                "tiny-dino",
                "--references",
                str(tmp_path / "refs"),
                "--defect",
                "scratch",
            ]
        )
        == 0
    )
    recipe = load_recipe(path)
    assert recipe.references == tuple(str(p.resolve()) for p in refs) and recipe.defect_classes == ("scratch",)
    assert main(["recipe", "calibrate", str(path), "--random-weights", "--device", "cpu", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-out over 4 references" in out and "RANDOM WEIGHTS" in out
    calibrated = load_recipe(path)
    scores = calibrated.calibration["good_scores"]
    assert len(scores) == 4 and calibrated.calibration["random_weights"] is True
    # leave-one-out: each reference scored by a detector fitted on the three others, recomputed here
    import numpy as np
    from PIL import Image

    from inspector.detectors.factory import create_detector

    images = [np.asarray(Image.open(p).convert("RGB")) for p in refs]
    detector = create_detector("anomalydino", model="tiny-dino", device="cpu", dtype="float32", random_weights=True)
    expected = []
    for i, image in enumerate(images):
        detector.fit(images[:i] + images[i + 1 :])
        expected.append(detector.predict([image])[0].score)
    detector.fit(images[:1])
    itself = detector.predict(images[:1])[0].score  # what scoring a reference against itself gives
    assert scores == pytest.approx(expected, rel=1e-5)
    assert min(expected) > 2 * itself + 1e-6
    assert calibrated.threshold >= max(scores) - 1e-9  # quantile 0.99 + 1 std: above nearly every good part
    low, high = calibrated.uncertain_band
    assert low <= calibrated.threshold <= high


def test_calibration_needs_two_good_images(tmp_path, tiny_registry, capsys):
    ref = write_reference(tmp_path / "ref.png")
    path = tmp_path / "r.json"
    main(
        [
            "recipe",
            "new",
            str(path),
            "--name",
            "x",
            "--detector",
            "anomalydino",
            "--model",
            "tiny-dino",
            "--references",
            str(ref),
        ]
    )
    assert main(["recipe", "calibrate", str(path), "--random-weights", "--device", "cpu"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_eval_of_an_unknown_category_says_which_exist(tmp_path, tiny_registry, capsys):
    make_tiny_dataset(tmp_path / "data" / "widget")
    code = main(
        [
            "eval",
            str(tmp_path / "data"),
            "--category",
            "widgte",
            "--model",
            "tiny-dino",
            "--random-weights",
            "--device",
            "cpu",
            "-q",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "widgte" in err and "widget" in err


def test_eval_feeds_each_score_and_mask_to_the_metrics_the_right_way_round(tmp_path, tiny_registry):
    """Recompute the metrics with scikit-learn from predictions made here, on masks read here: a
    negated score, a flipped or inverted mask, or a label swap in ``inspector eval`` changes them."""
    import cv2
    import numpy as np
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    from inspector.core.datasets import load_category
    from inspector.detectors.factory import create_detector
    from inspector.evaluation import evaluate_category

    root = make_tiny_dataset(tmp_path / "widget")
    detector = create_detector("anomalydino", model="tiny-dino", device="cpu", dtype="float32", random_weights=True)
    result = evaluate_category(load_category(root), detector, shots=1, pixel_max_side=4096)

    labels, scores, masks, maps = [], [], [], []
    for label, folder in ((0, "good"), (1, "scratch")):
        for path in sorted((root / "test" / folder).glob("*.png")):
            pred = detector.predict([np.asarray(Image.open(path).convert("RGB"))])[0]
            amap = np.asarray(pred.anomaly_map, dtype=np.float64)
            mask = np.zeros(amap.shape, dtype=bool)
            if label:
                raw = np.asarray(Image.open(root / "ground_truth" / folder / f"{path.stem}_mask.png")) > 0
                mask = cv2.resize(raw.astype(np.uint8), amap.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            labels.append(label)
            scores.append(pred.score)
            masks.append(mask.ravel())
            maps.append(amap.ravel())
    image_auroc = roc_auc_score(labels, scores)
    pixel_auroc = roc_auc_score(np.concatenate(masks), np.concatenate(maps))
    # the check can only tell the two ways round apart away from 0.5
    assert abs(image_auroc - 0.5) > 0.2 and abs(pixel_auroc - 0.5) > 0.2
    assert result.metrics.image_auroc == pytest.approx(image_auroc, abs=1e-9)
    assert result.metrics.pixel_auroc == pytest.approx(pixel_auroc, abs=1e-6)
    assert (result.n_test, result.n_defective) == (4, 2)
