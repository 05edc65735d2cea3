"""The window's plant chip (fed by a real forwarder to a real PostgreSQL that is stopped and started)
and the plant fields of Station ▸ Settings (written into plant.json, the rest of it kept)."""

from __future__ import annotations

import json

import pytest

from inspector.plant.settings import load_plant_settings
from inspector.store import open_store
from inspector.ui.plant_panel import PlantSettingsBox, PlantStatusChip, start_window_link
from tests.store.conftest import make_items

WAIT_MS = 120_000


@pytest.mark.postgres
def test_status_chip_follows_the_forwarder_through_an_outage(qtbot, tmp_path, central_url, postgres, monkeypatch):
    plant = tmp_path / "plant.json"
    plant.write_text(json.dumps({"station_id": "cam-7", "central": {"url": central_url}}))
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(plant))
    store = open_store(tmp_path / "st" / "inspector.db")
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket"})
    chip = PlantStatusChip()
    qtbot.addWidget(chip)
    link = start_window_link(store)
    assert link is not None and store.station == "cam-7"
    chip.set_link(link)
    try:
        assert chip.isVisibleTo(chip.parentWidget() or chip)
        qtbot.waitUntil(lambda: chip.text() == "Central database: up to date", timeout=WAIT_MS)
        chip.adjustSize()
        chip.grab().save(str(tmp_path / "chip-up-to-date.png"))

        postgres.stop("postgres")
        store.add_inspections(make_items(4, recipe.id))
        link.stored()
        qtbot.waitUntil(lambda: chip.text().startswith("Central database: unreachable since "), timeout=WAIT_MS)
        assert chip.text().endswith("waiting") and "not reached since" in chip.toolTip()
        chip.adjustSize()
        chip.grab().save(str(tmp_path / "chip-unreachable.png"))

        postgres.start("postgres")
        qtbot.waitUntil(lambda: chip.text() == "Central database: up to date", timeout=WAIT_MS)
        central = open_store(central_url)
        try:
            assert central.count() == 4
        finally:
            central.close()
    finally:
        chip.close_link()
        store.close()


def test_no_plant_settings_no_chip_and_no_link(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(tmp_path / "absent.json"))
    store = open_store(tmp_path / "st" / "inspector.db")
    try:
        assert start_window_link(store) is None
        chip = PlantStatusChip()
        qtbot.addWidget(chip)
        chip.set_link(None)
        assert chip.isHidden()
    finally:
        store.close()


def test_settings_fields_edit_plant_json_and_keep_the_rest(qtbot, tmp_path, monkeypatch):
    plant = tmp_path / "plant.json"
    mqtt = {"host": "broker.plant", "site": "acme"}
    opcua = {"endpoint": "opc.tcp://0.0.0.0:4840/inspector/", "users": {"plc": "pw"}}
    plant.write_text(json.dumps({"station_id": "cam-7", "mqtt": mqtt, "opcua": opcua}))
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(plant))
    box = PlantSettingsBox()
    qtbot.addWidget(box)
    assert box.central_url.text() == "" and box.opcua.isChecked()

    box.central_url.setText("db.plant")  # not a URL: refused, the file untouched
    assert not box.save()
    assert "must be a database URL" in box.error.text()
    assert json.loads(plant.read_text())["opcua"] == opcua

    box.central_url.setText("postgresql://inspector@db.plant/inspector")
    box.central_password.setText("p@ss:w/rd")  # characters a URL must quote
    box.opcua.setChecked(False)
    assert box.save() and box.error.isHidden()
    box.grab().save(str(tmp_path / "plant-settings.png"))
    saved = load_plant_settings(plant)
    assert saved.central.url == "postgresql://inspector:p%40ss%3Aw%2Frd@db.plant/inspector"
    assert not saved.serves_opcua and saved.opcua.users == {"plc": "pw"}  # switched off, users kept
    assert saved.mqtt.host == "broker.plant" and saved.station_id == "cam-7"
    assert plant.stat().st_mode & 0o077 == 0  # passwords inside: the station's account only

    again = PlantSettingsBox()
    qtbot.addWidget(again)
    # the password is never shown: not in the URL field, and its own field is masked
    assert again.central_url.text() == "postgresql://inspector@db.plant/inspector" and not again.opcua.isChecked()
    assert again.central_password.text() == "p@ss:w/rd"
    assert again.central_password.echoMode() == again.central_password.EchoMode.Password
    assert again.save()  # unchanged fields: nothing rewritten, the URL stays the same
    assert load_plant_settings(plant).central.url == saved.central.url
    again.central_url.setText("")
    again.opcua.setChecked(True)
    assert again.save()
    saved = load_plant_settings(plant)
    assert saved.central is None and saved.serves_opcua


@pytest.mark.postgres
def test_the_window_shows_the_plant_chip_and_closes_its_links(qtbot, tmp_path, central_url, monkeypatch):
    from inspector.ui.settings import StationSettings

    plant = tmp_path / "plant.json"
    plant.write_text(json.dumps({"station_id": "cam-8", "central": {"url": central_url}}))
    monkeypatch.setenv("INSPECTOR_PLANT_SETTINGS", str(plant))
    from inspector.ui.main_window import MainWindow

    window = MainWindow(StationSettings(data_folder=str(tmp_path / "station")), operator="ana", random_weights=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.plant_chip.link is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.plant_chip.text() == "Central database: up to date", timeout=WAIT_MS)
    assert window.plant_chip.isVisible()
    window.statusBar().grab().save(str(tmp_path / "status-bar.png"))
    forwarder = window.plant_chip.link.forwarder
    window.close()
    assert window.plant_chip.link is None and forwarder.state().stopped
