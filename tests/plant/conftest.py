"""Real servers for the plant-network tests: PostgreSQL and Mosquitto through packaging/services.sh.

``.ci/run`` starts them (``INSPECTOR_SERVICES_DIR`` and the ports in the environment) and stops them
after the tests. Without that, the first test that needs one starts its own under a temporary folder
for the session. In CI (``CI`` set) a server that cannot be started fails the tests; elsewhere they
are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "services.sh"
USER = PASSWORD = "inspector"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Services:
    """The plant servers of this test session (and how to stop and restart them)."""

    folder: Path
    pg_port: int
    mqtt_port: int
    owned: bool
    started: set[str]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "INSPECTOR_SERVICES_DIR": str(self.folder),
            "INSPECTOR_PG_PORT": str(self.pg_port),
            "INSPECTOR_MQTT_PORT": str(self.mqtt_port),
        }

    def run(self, action: str, what: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), action, what], env=self.env, capture_output=True, text=True, timeout=180
        )

    def start(self, what: str) -> None:
        done = self.run("start", what)
        if done.returncode != 0:
            raise RuntimeError(f"services.sh start {what} failed: {done.stderr.strip() or done.stdout.strip()}")
        self.started.add(what)

    def stop(self, what: str) -> None:
        done = self.run("stop", what)
        if done.returncode != 0:
            raise RuntimeError(f"services.sh stop {what} failed: {done.stderr.strip()}")

    def pg_url(self, database: str = "inspector", password: str = PASSWORD) -> str:
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.pg_port}/{database}"

    @property
    def mqtt_ca(self) -> Path:
        return self.folder / "mqtt" / "tls" / "ca.crt"


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Services:
    given = os.environ.get("INSPECTOR_SERVICES_DIR")
    if given:
        svc = Services(
            Path(given),
            int(os.environ.get("INSPECTOR_PG_PORT", "55432")),
            int(os.environ.get("INSPECTOR_MQTT_PORT", "18830")),
            owned=False,
            started=set(),
        )
    else:
        # Not under pytest's folder: PostgreSQL runs as its own user, which must reach the data folder.
        folder = Path(tempfile.mkdtemp(prefix="inspector-services-"))
        folder.chmod(0o755)
        svc = Services(folder, _free_port(), _free_port(), owned=True, started=set())
    yield svc
    if svc.owned:
        for what in ("mqtt", "postgres"):
            svc.run("stop", what)
        shutil.rmtree(svc.folder, ignore_errors=True)


def _need(services: Services, what: str) -> None:
    if what in services.started:
        return
    if what not in services.failed:
        try:
            services.start(what)
            return
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            services.failed[what] = str(error)
    if os.environ.get("CI"):
        pytest.fail(f"{what} is needed and could not be started in CI: {services.failed[what]}")
    pytest.skip(f"{what} server could not be started here: {services.failed[what]}")


@pytest.fixture
def postgres(services: Services) -> Services:
    _need(services, "postgres")
    return services


@pytest.fixture
def mqtt_broker(services: Services) -> Services:
    _need(services, "mqtt")
    return services


@pytest.fixture
def central_url(postgres: Services):
    """A new, empty PostgreSQL database for one test (dropped after it)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"host=127.0.0.1 port={postgres.pg_port} user={USER} password={PASSWORD} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres.pg_url(name)
    postgres.start("postgres")  # a test may have stopped it
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class S3Server:
    """A real S3-compatible HTTP server on loopback (moto's server mode), stoppable and restartable."""

    port: int
    server: object
    access_key_id: str = "station-key"
    secret_access_key: str = "station-secret"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def new_bucket(self) -> str:
        name = f"plant-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, **extra):
        from inspector.plant.artifacts import S3Settings

        return S3Settings(
            bucket=bucket,
            endpoint_url=self.endpoint,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            **extra,
        )

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()


@pytest.fixture
def s3_server():
    """moto's S3 server on a free loopback port for one test (boto3 talks HTTP to it, nothing is patched)."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    server = S3Server(_free_port(), None)
    server.start()
    yield server
    server.stop()
