"""Reports name the weights behind each set of verdicts (short fingerprint; the CSV the full one)."""

from __future__ import annotations

import csv
import dataclasses

from inspector.reports.csv_export import write_csv
from inspector.reports.data import gather_report
from inspector.reports.sections import header_items
from inspector.store import open_store
from inspector.store.domain import new_id
from tests.store.conftest import make_items

REAL = "sha256:" + "5181577ef50d" + "0" * 52


def test_header_and_csv_show_which_weights_scored_the_parts(tmp_path):
    with open_store(tmp_path / "inspector.db") as store:
        version = store.save_recipe_version("bracket-A", {"threshold": 0.5})
        items = make_items(3, version.id)
        store.add_inspections(
            [dataclasses.replace(i, model_fingerprint="random:0", random_weights=True) for i in items]
        )
        store.add_inspections([dataclasses.replace(i, model_fingerprint=REAL, id=new_id()) for i in items])
        data = gather_report(store, None)
        models = dict(header_items(data))["Models"]
        assert "weights 5181577ef50d] (3 parts)" in models
        assert "weights random:0] (3 parts, 3 with RANDOM WEIGHTS)" in models
        result, _ = write_csv(store, None, tmp_path / "r.csv")
    with open(result.path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["model_fingerprint"] for r in rows) == ["random:0"] * 3 + [REAL] * 3
