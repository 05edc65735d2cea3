"""MQTT results with a real Mosquitto: exactly once per part id through a broker stop and a station restart."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest

from inspector.plant.mqtt import RUNNING, MqttPublisher, MqttSettings
from inspector.store import Verdict, open_store
from tests.store.conftest import make_items

pytestmark = pytest.mark.mqtt


class Subscriber:
    """A plant-side consumer: persistent session (QoS 1 kept by the broker while it is away)."""

    def __init__(self, port: int, topic: str, *, user: str = "inspector", password: str = "inspector") -> None:
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"plant-sub-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload), msg.retain))

    def bodies(self, leaf: str) -> list[dict]:
        with self.lock:
            return [body for topic, body, _r in self.messages if topic.endswith("/" + leaf)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


def _settings(broker, **kw) -> MqttSettings:
    base = dict(
        host="127.0.0.1", port=broker.mqtt_port, username="inspector", password="inspector",
        site="acme", area="press-shop", line="line-3",
    )  # fmt: skip
    return MqttSettings(**{**base, **kw})


def test_every_verdict_once_per_part_through_broker_outage_and_station_restart(tmp_path, mqtt_broker):
    store = open_store(tmp_path / "st" / "inspector.db", station="cam-7")
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket"})
    sub = Subscriber(mqtt_broker.mqtt_port, "acme/+/+/+/inspector/#")
    assert sub.subscribed.wait(60)
    pub = MqttPublisher(store.db, _settings(mqtt_broker), station="cam-7").start()
    try:
        pub.set_station_state(RUNNING, recipe="bracket-A")
        ids = list(store.add_inspections(make_items(20, recipe.id)).ids)
        pub.notify()
        _wait(lambda: len({b["part_id"] for b in sub.bodies("verdict")}) >= 20, "first 20 verdicts")

        mqtt_broker.stop("mqtt")
        ids += store.add_inspections(make_items(25, recipe.id, start=100)).ids  # stored while the broker is down
        pub.notify()
        _wait(lambda: pub.state().error is not None and pub.state().waiting > 0, "the publisher notices the outage")
        assert "not reached" in pub.state().describe() and pub.state().waiting > 0
        mqtt_broker.start("mqtt")
        _wait(lambda: pub.state().connected and pub.state().waiting == 0, "queue drained after the restart")
    finally:
        pub.stop()

    # The station restarts: what was stored while no publisher ran goes out with the next one.
    ids += store.add_inspections(make_items(15, recipe.id, start=200)).ids
    wrong = dataclasses.replace(
        make_items(1, recipe.id, start=300)[0], wrong_part=True, identity_score=0.12, identity_reason="a gear"
    )
    (wrong_id,) = store.add_inspections([wrong]).ids
    ids.append(wrong_id)
    store.add_override(ids[0], "ana", Verdict.FAIL, defect_label="scratch")
    pub = MqttPublisher(store.db, _settings(mqtt_broker), station="cam-7").start()
    try:
        _wait(lambda: {b["part_id"] for b in sub.bodies("verdict")} >= set(ids), "verdicts after the restart")
        _wait(lambda: sub.bodies("override"), "the override")
    finally:
        pub.stop()
        sub.close()

    verdicts = sub.bodies("verdict")
    by_part = {b["part_id"]: b for b in verdicts}  # QoS 1: de-duplicate by part id
    assert set(by_part) == set(ids)  # exactly the stored parts, none missing, none extra
    first = store.get(ids[0])
    body = by_part[ids[0]]
    assert body["verdict"] == first.model_verdict.value and body["score"] == pytest.approx(first.score)
    assert (body["recipe"], body["recipe_version"], body["station"]) == ("bracket-A", 1, "cam-7")
    assert body["wrong_part"] is None  # not checked
    assert (by_part[wrong_id]["wrong_part"], by_part[wrong_id]["identity_reason"]) == (True, "a gear")
    override = sub.bodies("override")[0]
    assert (override["part_id"], override["verdict"], override["operator"]) == (ids[0], "fail", "ana")
    states = [b["state"] for b in sub.bodies("state")]
    assert RUNNING in states and states[-1] == "stopped"
    store.close()


def test_retained_state_wrong_password_and_tls(tmp_path, mqtt_broker):
    store = open_store(tmp_path / "st" / "inspector.db", station="cam-8")
    wrong = MqttPublisher(store.db, _settings(mqtt_broker, password="nope"), station="cam-8").start()
    try:
        _wait(lambda: wrong.state().error is not None, "refusal")
        assert "refused the user name or password" in wrong.state().error
    finally:
        wrong.stop()

    tls = _settings(mqtt_broker, port=mqtt_broker.mqtt_port + 1, tls=True, ca_file=str(mqtt_broker.mqtt_ca))
    pub = MqttPublisher(store.db, tls, station="cam-8").start()
    try:
        _wait(lambda: pub.state().connected, "TLS connection")
        pub.set_station_state(RUNNING, recipe="r-1")
    finally:
        pub.stop()
    late = Subscriber(mqtt_broker.mqtt_port, "acme/press-shop/line-3/cam-8/inspector/state")
    try:
        _wait(lambda: late.bodies("state"), "retained state for a late subscriber")
        assert late.messages[0][2] is True and late.bodies("state")[0]["state"] == "stopped"
    finally:
        late.close()
    store.close()


def test_messages_the_broker_never_acknowledged_are_sent_again_after_a_restart(tmp_path, mqtt_broker):
    """The broker hangs (SIGSTOP: connection open, no PUBACK), the station restarts, the broker is killed
    (what it had buffered is gone) and started again: the next publisher sends those parts again."""
    import os
    import signal

    store = open_store(tmp_path / "st" / "inspector.db", station="cam-9")
    recipe = store.save_recipe_version("bracket-A", {"object": "bracket"})
    pub = MqttPublisher(store.db, _settings(mqtt_broker), station="cam-9", ack_timeout_s=0.5).start()
    _wait(lambda: pub.state().connected, "connected")
    pid = int((mqtt_broker.folder / "mqtt" / "mosquitto.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        ids = list(store.add_inspections(make_items(10, recipe.id)).ids)
        pub.notify()
        _wait(lambda: pub.state().published == 0 and pub.state().waiting == 10, "published, not acknowledged")
        pub.stop(timeout=2)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGCONT)
    _wait(lambda: not (mqtt_broker.folder / "mqtt" / "mosquitto.pid").exists() or _dead(pid), "broker gone")
    mqtt_broker.start("mqtt")
    sub = Subscriber(mqtt_broker.mqtt_port, "acme/+/+/cam-9/inspector/verdict")
    assert sub.subscribed.wait(60)
    pub = MqttPublisher(store.db, _settings(mqtt_broker), station="cam-9").start()
    try:
        _wait(lambda: {b["part_id"] for b in sub.bodies("verdict")} >= set(ids), "the unacknowledged parts again")
    finally:
        pub.stop()
        sub.close()
    store.close()


def _dead(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
