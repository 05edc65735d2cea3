"""``inspector run`` on the plant network: spool locally, forward to PostgreSQL, publish over MQTT."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inspector.store import open_store
from tests.helpers import write_parts
from tests.pipeline.test_run_cli import _recipe
from tests.plant.test_mqtt import Subscriber, _wait

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]


def test_run_with_a_central_url_forwards_publishes_and_says_so(tmp_path, tiny_registry, central_url, mqtt_broker):
    write_parts(tmp_path / "parts", 5)
    data = tmp_path / "data"
    data.mkdir()
    mqtt = {"host": "127.0.0.1", "port": mqtt_broker.mqtt_port, "username": "inspector", "password": "inspector"}
    (data / "plant.json").write_text(json.dumps({"station_id": "line7-cam2", "mqtt": {**mqtt, "site": "acme"}}))
    sub = Subscriber(mqtt_broker.mqtt_port, "acme/+/+/line7-cam2/inspector/#")
    assert sub.subscribed.wait(60)
    cmd = [
        sys.executable, "-m", "inspector", "run", "--recipe", str(_recipe(tmp_path)), "--source",
        str(tmp_path / "parts"), "--json", "--random-weights", "--device", "cpu", "--db", central_url,
    ]  # fmt: skip
    out = subprocess.run(
        cmd, env=dict(os.environ, INSPECTOR_DATA_DIR=str(data)), capture_output=True, text=True, timeout=600
    )
    assert out.returncode in (0, 1), out.stderr
    parts = [json.loads(line) for line in out.stdout.splitlines()][:-1]
    ids = {p["inspection_id"] for p in parts}
    assert len(ids) == 5
    assert "central database: up to date" in out.stderr and "MQTT: up to date" in out.stderr, out.stderr
    local = open_store(data / "inspector.db")  # the spool: the default file of the data folder
    central = open_store(central_url)
    try:
        assert {r.id for r in local.query(limit=10)} == ids == {r.id for r in central.query(limit=10)}
        assert {r.station for r in central.query(limit=10)} == {"line7-cam2"}
    finally:
        local.close()
        central.close()
    _wait(lambda: {b["part_id"] for b in sub.bodies("verdict")} >= ids, "MQTT verdicts")
    # the link follows the session's notifications: the run's state (with its recipe, which only the
    # session's run-state notifications carry) reached the retained state topic
    _wait(lambda: "bracket" in {b.get("recipe") for b in sub.bodies("state")}, "the run state")
    sub.close()
