"""The station's links to the plant: forwarder, MQTT publisher and OPC UA server, started together.

A front end (``inspector run``, the window) makes one :class:`PlantLink` from the plant settings,
subscribes it to the station session's notifications (:meth:`PlantLink.follow`: a part stored, an
override, the run state) and shows :meth:`PlantLink.status` — the links themselves read the spool,
so a notification that never comes only delays them until their next poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inspector.plant.forwarder import Forwarder, ForwarderState
from inspector.plant.mqtt import FAULT, RUNNING, STOPPED, MqttPublisher, PublisherState
from inspector.plant.opcua import ERROR, READY, OpcUaServer, PartResult, StationControl
from inspector.plant.opcua import RUNNING as UA_RUNNING
from inspector.plant.settings import PlantSettings
from inspector.store.repository import InspectionStore

if TYPE_CHECKING:
    from inspector.pipeline.notifications import Notification, RunStateChanged, Subscription
    from inspector.pipeline.session import StationSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlantStatus:
    central: ForwarderState | None
    mqtt: PublisherState | None
    opcua_endpoint: str | None

    def lines(self) -> list[str]:
        out = []
        if self.central is not None:
            out.append(self.central.describe())
        if self.mqtt is not None:
            out.append(self.mqtt.describe())
        if self.opcua_endpoint is not None:
            out.append(f"OPC UA: serving {self.opcua_endpoint}")
        return out

    def describe(self) -> str:
        return "; ".join(self.lines())


class PlantLink:
    """Starts the links named in ``settings`` for ``store`` (the station's local SQLite)."""

    def __init__(
        self, store: InspectionStore, settings: PlantSettings, *, control: StationControl | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.station = settings.station
        self.forwarder: Forwarder | None = None
        self.mqtt: MqttPublisher | None = None
        self.opcua: OpcUaServer | None = None
        self._subscription: Subscription | None = None
        if settings.central is not None:
            self.forwarder = Forwarder(
                store.db,
                settings.central.url,
                station=self.station,
                artifact_target=settings.central.artifact_target(),
                local_artifacts=store.artifacts,
            )
        if settings.mqtt is not None:
            self.mqtt = MqttPublisher(store.db, settings.mqtt, station=self.station)
        if settings.opcua is not None and settings.opcua.enabled:
            if control is None:
                raise ValueError("the OPC UA server needs the station session to drive")
            self.opcua = OpcUaServer(settings.opcua, control, station=self.station)

    def start(self) -> PlantLink:
        if self.forwarder is not None:
            self.forwarder.start()
        if self.mqtt is not None:
            self.mqtt.start()
        if self.opcua is not None:
            self.opcua.start()
        return self

    # -- what the station tells the links ------------------------------------------------------

    def stored(self, *_args: object) -> None:
        """Something was committed locally: forward and publish it now rather than at the next poll."""
        for link in (self.forwarder, self.mqtt):
            if link is not None:
                link.notify()

    def part_result(self, result: PartResult) -> None:
        self.stored()
        if self.opcua is not None:
            self.opcua.publish_result(result)

    def follow(self, session: StationSession) -> Subscription:
        """Hear what ``session`` commits, through its notifications (the one path): a stored part wakes
        the links and is OPC UA's last result; a caption, override or recipe wakes them; the run state
        is MQTT's retained state and OPC UA's SystemState. :meth:`close` ends the subscription."""
        from inspector.pipeline.notifications import (
            CaptionStored,
            OverrideWritten,
            PartStored,
            RecipeSaved,
            RunStateChanged,
            StoreChanged,
        )

        def on_note(note: Notification) -> None:
            if isinstance(note, PartStored):
                r = note.result
                if r.inspection_id and r.verdict is not None:
                    self.part_result(
                        PartResult(
                            r.inspection_id,
                            r.verdict.value,
                            float(r.score or 0),
                            float(r.threshold or 0),
                            r.timestamp,
                            wrong_part=bool(r.wrong_part),
                        )
                    )
                else:
                    self.stored()
            elif isinstance(note, CaptionStored | OverrideWritten | RecipeSaved | StoreChanged):
                self.stored()
            elif isinstance(note, RunStateChanged):
                self._run_state_changed(note)

        if self._subscription is not None:
            self._subscription.cancel()
        self._subscription = session.subscribe(
            on_note, PartStored, CaptionStored, OverrideWritten, RecipeSaved, StoreChanged, RunStateChanged
        )
        return self._subscription

    def _run_state_changed(self, note: RunStateChanged) -> None:
        from inspector.pipeline.notifications import RunState

        detail = note.message or None
        if note.state in (RunState.STARTING, RunState.LOADING, RunState.RUNNING):
            self.run_state(RUNNING, recipe=note.recipe, detail=detail)
        elif note.state is RunState.FAILED or (note.summary is not None and note.summary.error):
            self.run_state(FAULT, recipe=note.recipe, detail=detail)
        else:
            self.run_state(STOPPED, recipe=note.recipe)

    def run_state(self, state: str, *, recipe: str | None = None, detail: str | None = None) -> None:
        """``running`` / ``stopped`` / ``fault`` (MQTT's retained state; OPC UA's SystemState)."""
        if self.mqtt is not None:
            self.mqtt.set_station_state(state, recipe=recipe, detail=detail)
        if self.opcua is not None:
            ua_state = {RUNNING: UA_RUNNING, STOPPED: READY, FAULT: ERROR}.get(state, READY)
            self.opcua.set_state(ua_state, detail or "")
            if recipe is not None:
                self.opcua.set_recipe(recipe)

    def idle(self) -> bool:
        """Nothing waits: the central database is up to date and MQTT has sent everything."""
        # the spool itself, not the forwarder's last count: parts committed after its last step count too
        central_done = self.forwarder is None or (self.forwarder.pending() == 0 and self.forwarder.state().up_to_date)
        mqtt_done = self.mqtt is None or (self.mqtt.state().connected and self.mqtt.state().waiting == 0)
        return central_done and mqtt_done

    def status(self) -> PlantStatus:
        return PlantStatus(
            self.forwarder.state() if self.forwarder else None,
            self.mqtt.state() if self.mqtt else None,
            self.opcua.endpoint if self.opcua else None,
        )

    def close(self, timeout: float = 30.0) -> PlantStatus:
        """Stop the links; whatever is not yet forwarded or published waits in the spool."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self.opcua is not None:
            self.opcua.stop(timeout)
        if self.mqtt is not None:
            self.mqtt.stop(timeout)
        if self.forwarder is not None:
            self.forwarder.stop(timeout)
        return self.status()
