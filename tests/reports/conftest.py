"""One realistic station database for the whole report test session (read-only for the tests)."""

from __future__ import annotations

import shutil
from datetime import UTC
from pathlib import Path

import pytest

from inspector.reports.data import gather_report
from inspector.store import InspectionFilter, InspectionRecord, InspectionStore, Order

from .factory import Station, build_station, open_fast_store


@pytest.fixture(scope="session")
def station(tmp_path_factory) -> Station:
    """~300 inspections: 2 shifts, recipe v1 and v2, overrides with undos, random weights, skips."""
    folder = tmp_path_factory.mktemp("station")
    built = build_station(folder / "inspector.db", n=300)
    yield built
    built.store.close()


@pytest.fixture(scope="session")
def report_data(station):
    return gather_report(station.store, tz=UTC)


@pytest.fixture
def scratch_station(station, tmp_path) -> InspectionStore:
    """A private copy of the station database, for tests that write to it."""
    source = Path(station.store.db.path)
    target = tmp_path / "copy" / "inspector.db"
    target.parent.mkdir()
    station.store.db.engine.dispose()
    shutil.copy2(source, target)
    for suffix in ("-wal", "-shm"):
        extra = source.with_name(source.name + suffix)
        if extra.exists():
            shutil.copy2(extra, target.with_name(target.name + suffix))
    shutil.copytree(station.store.artifacts.root, target.parent / "artifacts")
    store = open_fast_store(target)
    yield store
    store.close()


def all_records(store: InspectionStore, where: InspectionFilter | None = None) -> list[InspectionRecord]:
    """Every inspection matching ``where``, straight from the store's query API."""
    out: list[InspectionRecord] = []
    while True:
        page = store.query(where, offset=len(out), limit=500, order=Order.OLDEST)
        out += page
        if len(page) < 500:
            return out
