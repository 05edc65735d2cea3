"""The review queue on the central database: every station's parts, a Station column and filter, and
each part's image and heatmap fetched from the plant's S3 bucket (a real moto S3 server)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QTableView

from inspector.plant.artifacts import S3Bucket
from inspector.plant.forwarder import Forwarder
from inspector.ui.review_model import COLUMN, COLUMNS
from inspector.ui.station_filter import STATION_COLUMN, StationFilter
from tests.plant.test_artifacts import _station_with_artifacts
from tests.ui.conftest import WAIT_MS, make_window, settings  # noqa: F401

pytestmark = pytest.mark.postgres


def test_review_queue_on_the_central_database_filters_by_station(
    tmp_path,
    central_url,
    s3_server,
    monkeypatch,
    make_window,  # noqa: F811
    qtbot,
):
    bucket = s3_server.new_bucket()
    stations = {}
    for name, n in (("press-1", 3), ("press-2", 2)):
        store, keys = _station_with_artifacts(tmp_path, name, n=n)
        f = Forwarder(store.db, central_url, station=name, artifact_target=S3Bucket(s3_server.settings(bucket)))
        assert f.drain(timeout=120), f.state().describe()
        stations[name] = (n, keys)
        store.close()
    plant = tmp_path / "plant.json"
    s3 = {
        "bucket": bucket,
        "endpoint_url": s3_server.endpoint,
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        "cache_dir": str(tmp_path / "cache"),
    }
    plant.write_text(json.dumps({"central": {"url": central_url, "s3": s3}}))
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(plant))

    window = make_window(database=central_url)
    review = window.review
    window.tabs.setCurrentWidget(review)
    qtbot.waitUntil(lambda: review.station_filter.count() == 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: review.model.rowCount() == 5, timeout=WAIT_MS)
    assert review.station_filter.isVisibleTo(review) and not review.table.isColumnHidden(STATION_COLUMN)
    shown = {COLUMNS[COLUMN["Station"]][1](review.model.record(r)) for r in range(5)}
    assert shown == {"press-1", "press-2"}

    review.station_filter.setCurrentIndex(review.station_filter.findData("press-2"))
    qtbot.waitUntil(lambda: review.model.rowCount() == 2, timeout=WAIT_MS)
    assert {review.model.record(r).station for r in range(2)} == {"press-2"}
    review.select_row(0)
    qtbot.waitUntil(
        lambda: review.detail.data is not None and review.detail.data.record.id == review.current_record().id,
        timeout=WAIT_MS,
    )
    data = review.detail.data
    assert data.part is not None, data.image_note  # the image copy, from the bucket
    assert "heatmap file is missing" not in data.image_note
    review.grab().save(str(tmp_path / "central-review.png"))

    review.reset_filters()
    qtbot.waitUntil(lambda: review.model.rowCount() == 5, timeout=WAIT_MS)
    assert review.station_filter.currentData() is None


def test_one_station_database_hides_the_station_filter_and_column(qtbot):
    table = QTableView()
    qtbot.addWidget(table)
    from inspector.ui.review_model import InspectionTableModel
    from inspector.ui.workers import Tasks

    tasks = Tasks()
    table.setModel(InspectionTableModel(tasks))
    chooser = StationFilter(table)
    chooser._loaded(["press-1"])
    assert chooser.isHidden() and table.isColumnHidden(STATION_COLUMN)
    chooser._loaded(["press-1", "press-2"])
    assert not chooser.isHidden() and not table.isColumnHidden(STATION_COLUMN)
    tasks.shutdown()
