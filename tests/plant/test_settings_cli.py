"""Plant settings with plain errors; ``inspector plant forward`` and a central report per station."""

from __future__ import annotations

import csv
import json

import pytest

from inspector.cli import main
from inspector.plant.settings import PlantSettingsError, load_plant_settings, parse_plant_settings
from inspector.store import open_store
from tests.store.conftest import make_items


def test_settings_file_and_its_mistakes(tmp_path):
    path = tmp_path / "plant.json"
    path.write_text(
        json.dumps(
            {
                "station_id": "press-3",
                "central": {"url": "postgresql://u:p@db/inspector", "shared_artifacts": "/mnt/a"},
                "mqtt": {"host": "broker", "port": 8883, "tls": True, "site": "acme"},
                "opcua": {"users": {"plc": "pw"}, "trusted_client_certificates": ["a.der"]},
            }
        )
    )
    s = load_plant_settings(path)
    assert (s.station, s.central.url, s.mqtt.port, s.mqtt.tls) == (
        "press-3",
        "postgresql://u:p@db/inspector",
        8883,
        True,
    )
    assert s.mqtt.topic("press-3", "verdict") == "acme/area/line/press-3/inspector/verdict"
    assert s.opcua.trusted_client_certificates == ("a.der",) and not s.opcua.allow_anonymous
    assert not load_plant_settings(None).enabled  # no file: every link off

    for bad, message in (
        ({"centrl": {}}, "unknown setting"),
        ({"central": {"url": "db.plant"}}, "must be a database URL"),
        ({"mqtt": {"hots": "x"}}, "unknown mqtt setting"),
        ({"station_id": ""}, "station_id"),
        ([], "JSON object"),
    ):
        with pytest.raises(PlantSettingsError, match=message):
            parse_plant_settings(bad)
    path.write_text("{ not json")
    with pytest.raises(PlantSettingsError, match="Cannot read the plant settings"):
        load_plant_settings(path)
    with pytest.raises(ValueError, match="topic level"):
        s.mqtt.topic("a/b", "verdict")


@pytest.mark.postgres
def test_plant_forward_then_central_report_per_station(tmp_path, central_url, capsys):
    for name, n, start in (("st-x", 7, 0), ("st-y", 4, 100)):
        db = tmp_path / name / "inspector.db"
        store = open_store(db, station=name)
        recipe = store.save_recipe_version("bracket-A", {"o": 1})
        store.add_inspections(make_items(n, recipe.id, start=start))
        store.close()
        assert main(["plant", "forward", "--db", str(db), "--central", central_url, "--station", name]) == 0
        assert "central database: up to date" in capsys.readouterr().out
    out = tmp_path / "y.csv"
    assert main(["report", "--db", central_url, "--station", "st-y", "-f", "csv", "-o", str(out), "-q"]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert len(rows) == 4 and {r["station"] for r in rows} == {"st-y"}
    x_db = str(tmp_path / "st-x" / "inspector.db")
    assert main(["plant", "status", "--db", x_db, "--central", central_url, "--station", "st-x"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.postgres
def test_run_says_when_the_central_database_goes_and_comes_back(tmp_path, central_url, postgres, capsys):
    import threading
    import time

    from inspector.plant.cli import print_state_changes
    from inspector.plant.link import PlantLink
    from inspector.plant.settings import CentralSettings, PlantSettings

    store = open_store(tmp_path / "st" / "inspector.db", station="cam-5")
    recipe = store.save_recipe_version("bracket-A", {"o": 1})
    link = PlantLink(store, PlantSettings(station_id="cam-5", central=CentralSettings(central_url))).start()
    print_state_changes(link)
    seen = ""

    def wait_for(text: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 120
        while text not in seen and time.monotonic() < deadline:
            threading.Event().wait(0.2)
            seen += capsys.readouterr().err
        assert text in seen, seen

    try:
        deadline = time.monotonic() + 120
        while not link.idle() and time.monotonic() < deadline:  # the recipe version forwarded
            threading.Event().wait(0.2)
        assert link.idle(), link.status().describe()
        postgres.stop("postgres")
        store.add_inspections(make_items(3, recipe.id))
        link.stored()
        wait_for("inspector: central database not reached since")
        assert seen.count("not reached since") == 1  # said once, not at every retry
        postgres.start("postgres")
        wait_for("inspector: central database: up to date")
    finally:
        link.close()
        store.close()
