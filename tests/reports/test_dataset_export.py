"""Dataset export: MVTec AD layout, labels from the verdicts after review, maps alongside."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from inspector.core.datasets import load_category
from inspector.core.progress import Cancelled, ProgressState
from inspector.reports.dataset_export import DatasetOptions, export_dataset
from inspector.reports.scope import ReportError, ReportScope
from inspector.store import InspectionFilter, Verdict

from .conftest import all_records


def manifest(root):
    with open(root / "manifest.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def reviewed_export(station, tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "bracket-dataset"
    return export_dataset(station.store, None, root)


def test_reviewed_parts_are_labelled_by_the_verdicts_after_review(station, reviewed_export):
    result, store = reviewed_export, station.store
    rows = manifest(result.root)
    reviewed = all_records(store, InspectionFilter(reviewed=True))
    uncertain = sum(r.effective_verdict == Verdict.UNCERTAIN for r in reviewed)
    assert result.exported == len(rows) == len(reviewed) - uncertain > 0
    assert result.excluded.get("not reviewed by an operator") == store.count(InspectionFilter(reviewed=False))
    by_id = {r.id: r for r in reviewed}
    for row in rows:
        rec = by_id[row["inspection_id"]]
        image = result.root / row["image"]
        assert image.is_file() and hashlib.sha256(image.read_bytes()).hexdigest() == rec.content_hash
        assert row["effective_verdict"] == rec.effective_verdict and row["model_verdict"] == rec.model_verdict
        if rec.effective_verdict == Verdict.PASS:
            assert row["label"] == "good" and row["split"] in ("train", "test")
            assert image.parent == result.root / "bracket-A" / row["split"] / "good"
        else:
            assert row["split"] == "test"
            expected = (rec.effective_defect_label or rec.defect_type or "defect").lower()
            assert row["label"] == expected and image.parent == result.root / "bracket-A" / "test" / expected
            assert row["label_source"] == (
                "operator" if rec.effective_defect_label else "captioner" if rec.defect_type else "operator"
            )
    # a part the model passed and an operator failed lands in its defect folder
    assert any(r["model_verdict"] == "pass" and r["effective_verdict"] == "fail" for r in rows)
    # and a false alarm the operator passed lands in good
    assert any(r["model_verdict"] == "fail" and r["label"] == "good" for r in rows)


def test_anomaly_maps_follow_the_mvtec_evaluation_layout(station, reviewed_export):
    rows = manifest(reviewed_export.root)
    assert reviewed_export.maps == sum(1 for r in rows if r["anomaly_map"])
    row = next(r for r in rows if r["label"] not in ("good",) and r["anomaly_map"])
    path = reviewed_export.root / row["anomaly_map"]
    assert path.parts[-5:-1] == ("anomaly_maps", "bracket-A", "test", row["label"]) and path.suffix == ".tiff"
    stored = station.store.artifacts.load_heatmap(station.store.get(row["inspection_id"]).heatmap_artifact)
    with Image.open(path) as tiff:
        assert tiff.mode == "F"
        np.testing.assert_array_equal(np.asarray(tiff), stored)


def test_the_export_reads_back_as_an_mvtec_category(reviewed_export):
    category = load_category(reviewed_export.root / "bracket-A")  # the station's own MVTec reader
    counts = reviewed_export.counts
    assert len(category.train_good) == counts["bracket-A/train/good"]
    assert len(category.test) == sum(n for k, n in counts.items() if "/test/" in k)
    assert set(category.defect_types) == {k.rsplit("/", 1)[1] for k in counts if "/test/" in k} - {"good"}
    assert not (reviewed_export.root / "bracket-A" / "ground_truth").exists()  # no masks: none invented
    summary = json.loads((reviewed_export.root / "export.json").read_text())
    assert summary["exported"] == reviewed_export.exported and summary["excluded"] == reviewed_export.excluded


def test_unreviewed_uncertain_aside_and_random_weights(station, tmp_path):
    store = station.store
    options = DatasetOptions(include_unreviewed=True, uncertain="aside", train_good_fraction=0.0, category="bracket")
    result = export_dataset(store, ReportScope(lot="L-18"), tmp_path / "all", options)
    rows = manifest(result.root)
    assert result.exported == store.count(InspectionFilter(run_id=station.run_b)) == len(rows)
    uncertain = [r for r in rows if r["split"] == "uncertain"]
    assert len(uncertain) == store.count(InspectionFilter(run_id=station.run_b, effective_verdict=Verdict.UNCERTAIN))
    assert all((result.root / r["image"]).parent == result.root / "bracket" / "uncertain" for r in uncertain)
    assert not any(r["split"] == "train" for r in rows)
    random_rows = [r for r in rows if r["random_weights"] == "true"]
    assert len(random_rows) == result.random_weights == store.count(InspectionFilter(random_weights=True)) > 0
    assert all(r["anomaly_map"] == "" for r in random_rows)  # meaningless maps are not exported
    assert any(r["label_source"] == "model" for r in rows)


def test_refuses_a_folder_in_use_and_cleans_up_on_cancel(station, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(ReportError, match="not empty"):
        export_dataset(station.store, None, busy)
    progress = ProgressState(lambda done, total, phase: progress.cancel() if done >= 50 else None)
    with pytest.raises(Cancelled):
        export_dataset(
            station.store, None, tmp_path / "cancelled", DatasetOptions(include_unreviewed=True), progress=progress
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    with pytest.raises(ReportError, match="uncertain must be"):
        DatasetOptions(uncertain="keep")


def test_overlays_are_the_station_rendering_of_each_exported_map(station, tmp_path):
    from inspector.core.images import load_image
    from inspector.core.overlay import render_overlay
    from inspector.core.recipe import band_of_body

    options = DatasetOptions(overlays=True, anomaly_maps="npy", category="bracket")
    result = export_dataset(station.store, ReportScope(lot="L-18"), tmp_path / "ov", options)
    rows = [r for r in manifest(result.root) if r["anomaly_map"]]
    assert rows and result.overlays == len(rows)
    row = rows[0]
    record = station.store.get(row["inspection_id"])
    band = band_of_body(station.store.get_recipe_version(record.recipe_version_id).body)
    expected = render_overlay(
        load_image(result.root / row["image"]),
        np.load(result.root / row["anomaly_map"]),
        threshold=record.threshold,
        band=band,
    )
    stem = row["anomaly_map"].removeprefix("anomaly_maps/").removesuffix(".npy")
    written = np.asarray(Image.open(result.root / "overlays" / f"{stem}.png").convert("RGB"))
    assert np.array_equal(written, expected)
    assert json.loads((result.root / "export.json").read_text())["overlays"] == result.overlays
