"""The plant network in the window: its fields in Station ▸ Settings and its chip in the status bar.

The chip shows the forwarder's state ("Central database: up to date" / "N waiting" / "unreachable
since 13:20") and MQTT's; it is fed by the links' own state callbacks (they run on the links'
threads; a queued Qt signal brings each new state to the GUI thread: no polling, no network or
database work here). The settings fields edit ``plant.json`` (central database URL, OPC UA on/off),
keeping every other plant setting; they take effect at the next start of the station.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

from inspector.plant.forwarder import ForwarderState
from inspector.plant.link import PlantLink
from inspector.plant.mqtt import PublisherState
from inspector.plant.settings import (
    PlantSettings,
    PlantSettingsError,
    join_password,
    load_plant_settings,
    save_plant_fields,
    settings_path,
    split_password,
)
from inspector.store import InspectionStore

if TYPE_CHECKING:
    from inspector.pipeline.session import StationSession

log = logging.getLogger(__name__)


def central_text(state: ForwarderState) -> str:
    """The chip's short form of the forwarder's state."""
    if state.error is not None:
        since = f" since {state.unreachable_since.astimezone():%H:%M}" if state.unreachable_since else ""
        waiting = f", {state.waiting} waiting" if state.waiting else ""
        return f"Central database: unreachable{since}{waiting}"
    if state.waiting:
        return f"Central database: {state.waiting} waiting"
    return "Central database: up to date" if state.connected else "Central database: connecting…"


def mqtt_text(state: PublisherState) -> str:
    if state.error is not None:
        return f"MQTT: not reached, {state.waiting} waiting"
    return "MQTT: up to date" if state.connected and state.waiting == 0 else f"MQTT: {state.waiting} waiting"


class PlantStatusChip(QLabel):
    """The status-bar chip of the plant links (hidden when the station is not on a plant network)."""

    forwarder_changed = Signal(object)  # ForwarderState, from the forwarder's thread
    mqtt_changed = Signal(object)  # PublisherState, from the publisher's thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusChip")
        self.setVisible(False)
        self.link: PlantLink | None = None
        self._central: ForwarderState | None = None
        self._mqtt: PublisherState | None = None
        self._opcua: str | None = None
        self._closed = False
        self.forwarder_changed.connect(self._forwarder)
        self.mqtt_changed.connect(self._publisher)

    def set_link(self, link: PlantLink | None) -> None:
        """Show ``link``'s state from now on (None: nothing, hidden); closed at once after :meth:`close_link`."""
        if self._closed and link is not None:
            link.close()
            return
        self.link = link
        self.setVisible(link is not None)
        if link is None:
            return
        if link.forwarder is not None:
            link.forwarder.on_state = self.forwarder_changed.emit
            self._central = link.forwarder.state()
        if link.mqtt is not None:
            link.mqtt.on_state = self.mqtt_changed.emit
            self._mqtt = link.mqtt.state()
        self._opcua = link.opcua.endpoint if link.opcua is not None else None
        self._show()

    def close_link(self, timeout: float = 10.0) -> None:
        """Stop the links (what is not forwarded or published waits in the spool for the next start)."""
        link, self.link, self._closed = self.link, None, True
        if link is not None:
            link.close(timeout)

    def _forwarder(self, state: ForwarderState) -> None:
        self._central = state
        self._show()

    def _publisher(self, state: PublisherState) -> None:
        self._mqtt = state
        self._show()

    def _show(self) -> None:
        parts, lines = [], []
        if self._central is not None:
            parts.append(central_text(self._central))
            lines.append(self._central.describe())
        if self._mqtt is not None:
            parts.append(mqtt_text(self._mqtt))
            lines.append(self._mqtt.describe())
        if self._opcua is not None:
            parts.append("OPC UA on")
            lines.append(f"OPC UA: serving {self._opcua}")
        self.setText(" · ".join(parts))
        self.setToolTip("\n".join(lines))
        problem = any(s is not None and s.error is not None for s in (self._central, self._mqtt))
        self.setStyleSheet("QLabel { color: #c62828; font-weight: 700; }" if problem else "")


def start_window_link(
    store: InspectionStore, settings: PlantSettings | None = None, *, session: StationSession | None = None
) -> PlantLink | None:
    """The forwarder and MQTT publisher of the window's station (None when plant.json names neither).

    Runs on a worker thread (it opens the spool). The window does not serve OPC UA yet (the line's
    methods need a run the PLC can drive): it says so in the log and starts the other links.
    """
    if not store.db.is_sqlite:
        return None  # the window opened a central database itself (review): nothing to forward
    try:
        settings = settings if settings is not None else load_plant_settings()
    except PlantSettingsError as error:
        log.warning("plant network off: %s", error)
        return None
    if settings.serves_opcua:
        log.warning("OPC UA is served by 'inspector run'; the window starts the forwarder and MQTT only")
        settings = replace(settings, opcua=None)
    if not settings.enabled:
        return None
    if settings.station_id:
        store.station = settings.station_id
    link = PlantLink(store, settings).start()
    if session is not None:  # woken by what the session commits, not only by the spool poll
        link.follow(session)
    return link


class PlantSettingsBox(QGroupBox):
    """Station ▸ Settings: the central database URL and OPC UA on/off (plant.json)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Plant network", parent)
        form = QFormLayout(self)
        self.central_url = QLineEdit()
        self.central_url.setPlaceholderText("postgresql://USER@HOST:5432/inspector (empty: off)")
        self.central_url.setToolTip("Every record is forwarded to this PostgreSQL server, in order, from the spool")
        self.central_password = QLineEdit()  # kept out of the URL field so it is never shown
        self.central_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.central_password.setPlaceholderText("the database user's password")
        self.opcua = QCheckBox("Serve OPC UA for the line (endpoint and users from plant.json)")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel { color: #c62828; }")
        self.error.setVisible(False)
        self._loaded: tuple[str, bool] | None = None  # as read from plant.json (None: it could not be read)
        note = QLabel(f"Saved in {settings_path()}; used from the next start of the station.")
        note.setWordWrap(True)
        form.addRow("Central database", self.central_url)
        form.addRow("Password", self.central_password)
        form.addRow("OPC UA", self.opcua)
        form.addRow("", note)
        form.addRow("", self.error)
        try:
            settings = load_plant_settings()
        except PlantSettingsError as error:
            self._show_error(str(error))
            return
        url, password = split_password(settings.central.url if settings.central else "")
        self.central_url.setText(url)
        self.central_password.setText(password)
        self.opcua.setChecked(settings.serves_opcua)
        self._loaded = (self.url(), self.opcua.isChecked())

    def url(self) -> str:
        """The central database URL as the fields give it (the password put back in)."""
        return join_password(self.central_url.text(), self.central_password.text())

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def save(self) -> bool:
        """Write the fields into plant.json; False (and the reason shown here) when they cannot be used."""
        if (self.url(), self.opcua.isChecked()) == self._loaded:
            return True  # unchanged: plant.json is left as it is
        try:
            save_plant_fields(self.url(), self.opcua.isChecked())
        except (PlantSettingsError, OSError) as error:
            self._show_error(str(error))
            return False
        self._show_error("")
        return True
