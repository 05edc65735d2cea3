"""Plant-network settings: one JSON file, ``<data folder>/plant.json`` (or ``INSPECTOR_PLANT_SETTINGS``).

Example (every section is optional; a missing section switches that link off)::

    {
      "station_id": "press-3-cam-1",
      "central": {"url": "postgresql://inspector:PASSWORD@db.plant:5432/inspector",
                  "shared_artifacts": "/mnt/plant/inspector-artifacts"},
      (or, for an S3-compatible object store instead of the shared folder:
       "central": {"url": "...", "s3": {"bucket": "inspector", "prefix": "artifacts/",
                   "endpoint_url": "https://minio.plant:9000", "access_key_id": "...",
                   "secret_access_key": "...", "ca_bundle": "/etc/plant/ca.crt"}})
      "mqtt": {"host": "broker.plant", "port": 8883, "tls": true, "ca_file": "/etc/plant/ca.crt",
               "username": "press-3", "password": "...", "site": "acme", "area": "press-shop",
               "line": "line-3"},
      "opcua": {"endpoint": "opc.tcp://0.0.0.0:4840/inspector/", "users": {"plc": "..."},
                "allow_anonymous": false}
    }
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from inspector.core.paths import data_dir
from inspector.errors import InspectorError
from inspector.plant.artifacts import ArtifactTarget, S3Settings, plant_target, reading_artifacts
from inspector.plant.mqtt import MqttSettings
from inspector.plant.opcua import OpcUaSettings
from inspector.store.artifacts import ArtifactStore
from inspector.store.engine import open_database
from inspector.store.repository import InspectionStore

SETTINGS_FILE = "plant.json"


class PlantSettingsError(InspectorError):
    """The plant settings file cannot be used."""

    exit_code = 2


@dataclass(frozen=True)
class CentralSettings:
    url: str
    shared_artifacts: str | None = None  # the shared artifact folder (a mounted share)
    s3: S3Settings | None = None  # or an S3-compatible bucket (see inspector.plant.artifacts)

    def artifact_target(self) -> ArtifactTarget | None:
        """Where the forwarder uploads artifacts (None: they stay on the station)."""
        return plant_target(self.shared_artifacts, self.s3)

    def reading_artifacts(self) -> ArtifactStore | None:
        """The artifacts of the central database for a reader (reports, the review queue)."""
        return reading_artifacts(self.shared_artifacts, self.s3)


@dataclass(frozen=True)
class PlantSettings:
    station_id: str | None = None  # default: this computer's name
    central: CentralSettings | None = None
    mqtt: MqttSettings | None = None
    opcua: OpcUaSettings | None = None

    @property
    def station(self) -> str:
        return self.station_id or socket.gethostname()

    @property
    def serves_opcua(self) -> bool:
        return self.opcua is not None and self.opcua.enabled

    @property
    def enabled(self) -> bool:
        return any((self.central, self.mqtt, self.serves_opcua))


def settings_path() -> Path:
    env = os.environ.get("INSPECTOR_PLANT_SETTINGS")
    return Path(env).expanduser() if env else data_dir() / SETTINGS_FILE


def load_plant_settings(path: str | os.PathLike[str] | None = None) -> PlantSettings:
    """The plant settings (all links off when there is no file)."""
    where = Path(path) if path is not None else settings_path()
    if not where.exists():
        if path is not None:
            raise PlantSettingsError(f"The plant settings file {where} does not exist.")
        return PlantSettings()
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlantSettingsError(f"Cannot read the plant settings {where}: {error}") from error
    return parse_plant_settings(data, where=str(where))


def parse_plant_settings(data: Any, *, where: str = "plant settings") -> PlantSettings:
    if not isinstance(data, dict):
        raise PlantSettingsError(f"{where}: expected a JSON object at the top.")
    unknown = set(data) - {"station_id", "central", "mqtt", "opcua"}
    if unknown:
        raise PlantSettingsError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}.")
    station = data.get("station_id")
    if station is not None and (not isinstance(station, str) or not station.strip()):
        raise PlantSettingsError(f"{where}: station_id must be a non-empty text.")
    central = _section(data, "central", CentralSettings, where)
    if central is not None and "://" not in central.url:
        raise PlantSettingsError(f"{where}: central.url must be a database URL, e.g. postgresql://USER:PW@HOST/DB.")
    if central is not None and central.s3 is not None:
        if central.shared_artifacts:
            raise PlantSettingsError(f"{where}: give central.shared_artifacts or central.s3, not both.")
        central = replace(central, s3=_section(vars(central), "s3", S3Settings, f"{where}: central"))
    opcua = _section(data, "opcua", OpcUaSettings, where)
    if opcua is not None:
        opcua = OpcUaSettings(
            **{**vars(opcua), "trusted_client_certificates": tuple(opcua.trusted_client_certificates)}
        )
    return PlantSettings(
        station_id=station.strip() if station else None,
        central=central,
        mqtt=_section(data, "mqtt", MqttSettings, where),
        opcua=opcua,
    )


def _section(data: dict[str, Any], name: str, cls: type, where: str) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PlantSettingsError(f"{where}: '{name}' must be a JSON object.")
    known = {f.name for f in fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise PlantSettingsError(
            f"{where}: unknown {name} setting(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})."
        )
    try:
        return cls(**value)
    except (TypeError, ValueError) as error:
        raise PlantSettingsError(f"{where}: {name}: {error}") from error


def central_reading_artifacts() -> ArtifactStore | None:
    """The plant artifact store of this computer's plant settings, for reading a central database."""
    settings = load_plant_settings()
    return settings.central.reading_artifacts() if settings.central is not None else None


def open_central_store(url: str) -> InspectionStore:
    """A server database (every station's parts) with the plant's artifacts, for reports and review.

    No crash recovery is run: the runs on a central database belong to the stations.
    """
    artifacts = central_reading_artifacts()
    db = open_database(url)
    return InspectionStore(db, artifacts=artifacts) if artifacts is not None else InspectionStore(db)


def split_password(url: str) -> tuple[str, str]:
    """``(url without its password, password)`` of a database URL, for a form that hides the password.

    Anything that is not a URL with a password comes back as it is, with an empty password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        return url, ""
    if not parsed.password:
        return url, ""
    bare = parsed._replace(password=None)  # URL is a named tuple; set() cannot clear a field
    return bare.render_as_string(hide_password=False), str(parsed.password)


def join_password(url: str, password: str) -> str:
    """The database URL with ``password`` put back (quoted as URLs need); ``url`` alone when it is empty."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not password or not url.strip():
        return url
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        return url  # not a URL: refused as it is by the check that follows
    return parsed.set(password=password).render_as_string(hide_password=False)


def save_plant_fields(central_url: str, opcua_on: bool, path: str | os.PathLike[str] | None = None) -> PlantSettings:
    """Set the central database URL ("": no central database) and OPC UA on/off in the settings file,
    keeping everything else in it; checked before it is written (atomically). Returns the new settings."""
    where = Path(path) if path is not None else settings_path()
    data: dict[str, Any] = {}
    if where.exists():
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PlantSettingsError(f"Cannot read the plant settings {where}: {error}") from error
        if not isinstance(data, dict):
            raise PlantSettingsError(f"{where}: expected a JSON object at the top.")
    url = central_url.strip()
    if url:
        data["central"] = {**(data.get("central") or {}), "url": url}
    else:
        data.pop("central", None)
    if opcua_on or data.get("opcua") is not None:
        data["opcua"] = {**(data.get("opcua") or {}), "enabled": bool(opcua_on)}
    settings = parse_plant_settings(data, where=str(where))
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_name(where.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover keeps its old mode: create afresh, 0600 from the first byte
    # it holds passwords: readable by the station's own account only, never for a moment by others
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, where)
    return settings
