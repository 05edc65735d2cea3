"""Model identity on every record: "already inspected" means same image, recipe version and weights."""

from __future__ import annotations

import dataclasses

import numpy as np

from inspector.core.types import AnomalyPrediction, DetectorInfo, Verdict
from inspector.store import NewInspection
from inspector.store.domain import new_id

from .conftest import content_hash, make_items

RANDOM = "random:0"
REAL = "sha256:" + "ab" * 32


def _with(items, fingerprint):
    return [dataclasses.replace(i, model_fingerprint=fingerprint, id=new_id()) for i in items]


def test_the_same_part_scored_by_other_weights_is_stored_again(store, recipe):
    first = store.add_inspections(_with(make_items(3, recipe.id), RANDOM))
    assert first.n_inserted == 3
    assert store.find_existing([content_hash(0)], recipe.id, RANDOM) == {content_hash(0): first.ids[0]}
    assert store.find_existing([content_hash(0)], recipe.id, REAL) == {}
    assert not store.has_inspection(content_hash(0), recipe.id, REAL)

    second = store.add_inspections(_with(make_items(3, recipe.id), REAL))
    assert second.duplicate == (False, False, False)
    again = store.add_inspections(_with(make_items(3, recipe.id), REAL))
    assert again.duplicate == (True, True, True) and list(again.ids) == list(second.ids)
    prints = sorted(r.model_fingerprint for r in store.query())
    assert prints == [RANDOM] * 3 + [REAL] * 3


def test_from_prediction_records_fingerprint_device_and_dtype(store, recipe):
    info = DetectorInfo("anomalydino", "dinov2-small", "cpu", "bfloat16", fingerprint=REAL)
    item = NewInspection.from_prediction(
        AnomalyPrediction(0.4, np.zeros((2, 2), np.float32)),
        info,
        content_hash=content_hash("x"),
        recipe_version_id=recipe.id,
        threshold=0.5,
        verdict=Verdict.PASS,
    )
    store.add_inspections([item])
    rec = store.get(item.id)
    assert (rec.model_fingerprint, rec.model_device, rec.model_dtype) == (REAL, "cpu", "bfloat16")
    assert rec.short_fingerprint == "ab" * 6
    assert rec.recipe_version_id == recipe.id and rec.detector == "anomalydino"
