"""Results over MQTT (paho-mqtt): each verdict and override as JSON, QoS 1, from a persistent queue.

Topics follow the ISA-95 "unified namespace" style, one branch per station::

    <site>/<area>/<line>/<station>/inspector/verdict    one message per inspected part
    <site>/<area>/<line>/<station>/inspector/override   one per operator decision (and undo)
    <site>/<area>/<line>/<station>/inspector/state      retained: running / stopped / fault, recipe

The outgoing queue is the station's spool (``inspector.plant.spool``): a verdict is queued in the
same transaction that stores it, so it survives a broker outage and a station restart. The
publisher moves its position only after the broker acknowledged (PUBACK) every message before it.
Delivery is at least once: after a reconnect a message may arrive twice; subscribers de-duplicate
by ``part_id`` (verdicts) or ``override_id`` (overrides). The state topic is retained, and the
broker sets it to ``offline`` (the MQTT will) if the station vanishes without saying goodbye.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from inspector.plant.spool import Spool
from inspector.store.domain import utc_now
from inspector.store.engine import Database
from inspector.store.errors import StoreError
from inspector.store.models import Operator, Recipe, RecipeVersion

log = logging.getLogger(__name__)

CONSUMER = "mqtt"
TABLES = ("inspections", "overrides")
RUNNING, STOPPED, FAULT, OFFLINE = "running", "stopped", "fault", "offline"


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish. ``tls`` with ``ca_file`` (and a client certificate if the broker wants one)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    site: str = "site"
    area: str = "area"
    line: str = "line"
    client_id: str | None = None  # default: inspector-<station>
    keepalive_s: int = 30
    thumbnail_url: str | None = None  # e.g. https://files.plant/artifacts/ : link = url + artifact key

    def topic(self, station: str, leaf: str) -> str:
        parts = [self.site, self.area, self.line, station]
        for part in parts:
            if not part or any(c in part for c in "+#/"):
                raise ValueError(f"an MQTT topic level cannot be empty or contain '+', '#' or '/': {part!r}")
        return "/".join([*parts, "inspector", leaf])


@dataclass(frozen=True)
class PublisherState:
    connected: bool = False
    waiting: int = 0
    error: str | None = None
    since: datetime | None = None  # when the broker was last lost
    published: int = 0

    def describe(self) -> str:
        if self.error is not None:
            since = f" since {self.since:%H:%M:%S} UTC" if self.since else ""
            return f"MQTT broker not reached{since}: {self.error} ({self.waiting} waiting)"
        if not self.connected:
            return f"MQTT: connecting ({self.waiting} waiting)"
        return "MQTT: up to date" if self.waiting == 0 else f"MQTT: {self.waiting} waiting"


_REFUSED = {
    "Bad user name or password": "the MQTT broker refused the user name or password",
    "Not authorized": "the MQTT broker refused the user name or password (not authorised)",
}


class MqttPublisher:
    """Publishes the spool's verdicts and overrides, and the retained station state, on a thread."""

    def __init__(
        self,
        local: Database,
        settings: MqttSettings,
        *,
        station: str,
        batch_size: int = 200,
        poll_s: float = 0.5,
        ack_timeout_s: float = 10.0,
        on_state: Callable[[PublisherState], None] | None = None,
    ) -> None:
        import paho.mqtt.client as paho

        self.spool = Spool(local)
        self.spool.register(CONSUMER)
        self.db = local
        self.settings = settings
        self.station = station
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.ack_timeout_s = ack_timeout_s
        self.on_state = on_state
        self.topics = {leaf: settings.topic(station, leaf) for leaf in ("verdict", "override", "state")}
        self._lock = threading.Lock()
        self._state = PublisherState(waiting=self.spool.waiting(CONSUMER, tables=TABLES))
        self._station_state: dict[str, Any] = {"state": STOPPED, "recipe": None, "detail": None}
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._recipes: dict[str, tuple[str, int]] = {}
        self._operators: dict[str, str] = {}

        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id or f"inspector-{station}",
            clean_session=True,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls or settings.ca_file:
            client.tls_set(
                ca_certs=settings.ca_file,
                certfile=settings.cert_file,
                keyfile=settings.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.will_set(self.topics["state"], self._state_payload(OFFLINE), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------

    def start(self) -> MqttPublisher:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="inspector-mqtt", daemon=True)
        self._thread.start()
        return self

    def notify(self, *_args: object) -> None:
        self._wake.set()

    def set_station_state(self, state: str, *, recipe: str | None = None, detail: str | None = None) -> None:
        """The retained state topic: running / stopped / fault, with the recipe in use."""
        self._station_state = {"state": state, "recipe": recipe, "detail": detail}
        if self._connected.is_set():
            self.client.publish(self.topics["state"], self._state_payload(state), qos=1, retain=True)

    def stop(self, timeout: float = 15.0) -> PublisherState:
        """Publish what can be published quickly, say 'stopped', and disconnect (the rest stays queued)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._connected.is_set():
            self._station_state["state"] = STOPPED
            info = self.client.publish(self.topics["state"], self._state_payload(STOPPED), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(min(timeout, self.ack_timeout_s))
        self.client.disconnect()
        self.client.loop_stop()
        return self.state()

    def state(self) -> PublisherState:
        with self._lock:
            return self._state

    # -- paho callbacks (its network thread) ---------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            text = str(reason)
            self._set(connected=False, error=_REFUSED.get(text, f"the MQTT broker refused the connection ({text})"))
            self._set(since=self.state().since or utc_now())
            return
        self._connected.set()
        self._set(connected=True, error=None, since=None)
        client.publish(self.topics["state"], self._state_payload(self._station_state["state"]), qos=1, retain=True)
        self._wake.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        self._connected.clear()
        if self._stop.is_set():
            return
        self._set(
            connected=False,
            error=self.state().error or f"connection to {self.settings.host}:{self.settings.port} lost",
            since=self.state().since or utc_now(),
        )

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._connected.wait(self.poll_s):
                if self.state().error is None and self.state().since is None:
                    self._set(since=utc_now())
                self._refresh_waiting()
                continue
            try:
                sent = self._publish_batch()
            except StoreError as error:  # the local database: report and keep trying
                log.warning("MQTT publisher cannot read the spool: %s", error)
                self._stop.wait(self.poll_s)
                continue
            if not sent:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def _publish_batch(self) -> bool:
        upto = self.spool.last_seq()
        changes = self.spool.pending(CONSUMER, limit=self.batch_size, tables=TABLES, upto=upto)
        if not changes:
            if self.spool.position(CONSUMER) < upto:
                self.spool.advance(CONSUMER, upto)  # only other tables' changes: nothing to send
            self._refresh_waiting()
            return False
        messages = self._messages([c for c in changes if c.op == "I"])
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        deadline = time.monotonic() + self.ack_timeout_s
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False  # not acknowledged (disconnected or slow): sent again after reconnect
        seq = changes[-1].seq if len(changes) == self.batch_size else upto
        self.spool.advance(CONSUMER, seq)
        self._set(published=self.state().published + len(infos))
        self._refresh_waiting()
        return True

    # -- payloads ------------------------------------------------------------------------------

    def _messages(self, changes: list) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        rows = {
            table: {r["id"]: r for r in self.spool.rows(table, [c.row_id for c in changes if c.table == table])}
            for table in TABLES
        }
        for change in changes:
            row = rows[change.table].get(change.row_id)
            if row is None:
                continue
            if change.table == "inspections":
                out.append((self.topics["verdict"], _json(self._verdict(row))))
            else:
                out.append((self.topics["override"], _json(self._override(row))))
        return out

    def _verdict(self, row: dict[str, Any]) -> dict[str, Any]:
        recipe, version = self._recipe(str(row["recipe_version_id"]))
        thumb = row.get("thumbnail_artifact")
        body = {
            "type": "verdict",
            "station": row.get("station") or self.station,
            "part_id": row["id"],
            "content_hash": row["content_hash"],
            "file": row.get("file_path"),
            "source": row.get("source"),
            "run_id": row.get("run_id"),
            "recipe": recipe,
            "recipe_version": version,
            "recipe_version_id": row["recipe_version_id"],
            "verdict": str(row["verdict"]),
            # the part-identity check: True means another part was on the line (None: not checked)
            "wrong_part": None if row.get("wrong_part") is None else bool(row["wrong_part"]),
            "identity_score": row.get("identity_score"),
            "identity_reason": row.get("identity_reason"),
            "media_time_s": row.get("media_time_s"),  # video sources: seconds into the video
            "frame_index": row.get("frame_index"),
            "score": row["score"],
            "threshold": row["threshold"],
            "detector": row["detector"],
            "model_id": row["model_id"],
            "model_fingerprint": row.get("model_fingerprint"),
            "random_weights": bool(row.get("random_weights")),
            "time": row["inspected_at"].isoformat(),
            "thumbnail": (self.settings.thumbnail_url or "") + thumb if thumb else None,
        }
        return body

    def _override(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "override",
            "station": self.station,
            "override_id": row["id"],
            "part_id": row["inspection_id"],
            "seq": row["seq"],
            "kind": str(row["kind"]),
            "previous_verdict": str(row["previous_verdict"]),
            "verdict": str(row["new_verdict"]),
            "defect_label": row.get("defect_label"),
            "operator": self._operator(str(row["operator_id"])),
            "note": row.get("note"),
            "time": row["created_at"].isoformat(),
        }

    def _recipe(self, version_id: str) -> tuple[str, int]:
        if version_id not in self._recipes:
            with self.db.read() as conn:
                row = conn.execute(
                    select(Recipe.name, RecipeVersion.version)
                    .join(Recipe, Recipe.id == RecipeVersion.recipe_id)
                    .where(RecipeVersion.id == version_id)
                ).first()
            self._recipes[version_id] = (row.name, row.version) if row else ("?", 0)
        return self._recipes[version_id]

    def _operator(self, operator_id: str) -> str:
        if operator_id not in self._operators:
            with self.db.read() as conn:
                name = conn.execute(select(Operator.name).where(Operator.id == operator_id)).scalar()
            self._operators[operator_id] = name or "?"
        return self._operators[operator_id]

    def _state_payload(self, state: str) -> bytes:
        s = self._station_state
        return _json(
            {
                "station": self.station,
                "state": state,
                "recipe": s.get("recipe"),
                "detail": s.get("detail"),
                "time": utc_now().isoformat(),
            }
        )

    def _refresh_waiting(self) -> None:
        with contextlib.suppress(StoreError):
            self._set(waiting=self.spool.waiting(CONSUMER, tables=TABLES))

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)
            state = self._state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("the MQTT publisher's on_state handler failed")


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
