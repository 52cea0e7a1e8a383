"""Real processes for ingestion tests: a Mosquitto started from deploy/mosquitto.conf on a free
port, a migrated SQLite file shared with consumer subprocesses, and the consumer itself.

The consumer runs as `manage.py mqtt_consumer` in a subprocess (that is what gets killed with
SIGKILL); it and the test share one SQLite file under the test's tmp directory, which the test
reads with the sqlite3 module (the subprocess cannot see pytest-django's test database).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from devtools.broker import mosquitto_binary, mosquitto_config_write
from readings.ingestion.mqtt import BrokerSettings, TelemetryPublisher, TelemetryWatcher, broker_probe
from tests.support.mosquitto import mosquitto_start, mosquitto_stop
from tests.support.network import free_port, wait_until
from tests.support.services import service_missing

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable
METERS = [f"meter-{number:03d}" for number in range(1, 11)]
RETIRED_METER = "meter-retired"

SEED_DEVICES = f"""
from accounts.models import User
from devices.models import Device
owner = User.objects.create_user(email="ingest-owner@example.com", password="ingest-owner-pass-1", name="Owner")
for device_id in {METERS!r}:
    Device.objects.create(device_id=device_id, owner=owner, location="Bengaluru")
Device.objects.create(device_id={RETIRED_METER!r}, owner=owner, status="decommissioned")
"""


def require_mosquitto() -> str:
    binary = mosquitto_binary()
    if binary is None:
        service_missing("the mosquitto binary is not installed")
    return binary


@dataclass
class LocalBroker:
    """A Mosquitto of our own: deploy/mosquitto.conf, a free port, persistence in tmp."""

    directory: Path
    extra: str = ""
    scheme: str = "mqtt"
    host: str = "127.0.0.1"  # the name clients use (and, with TLS, verify)
    bind: str = "127.0.0.1"  # the address Mosquitto listens on
    ca_file: str = ""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> LocalBroker:
        binary = require_mosquitto()
        config = mosquitto_config_write(port=self.port, directory=self.directory, host=self.bind, extra=self.extra)
        self.process = mosquitto_start(binary, config, directory=self.directory, host=self.bind, port=self.port)
        return self

    def stop(self) -> None:
        mosquitto_stop(self.process)
        self.process = None


@pytest.fixture
def mqtt_broker(tmp_path):
    broker = LocalBroker(directory=tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def ingest_db_template(tmp_path_factory):
    """A migrated SQLite file with ten meters and a decommissioned one, copied for each test."""
    directory = tmp_path_factory.mktemp("ingest-db")
    path = directory / "template.sqlite3"
    env = process_env(database=path, metrics_dir=directory / "metrics")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SEED_DEVICES], cwd=BASE_DIR, env=env, check=True, capture_output=True
    )
    return path


@pytest.fixture
def ingest_db(ingest_db_template, tmp_path) -> Path:
    path = tmp_path / "ingest.sqlite3"
    path.write_bytes(ingest_db_template.read_bytes())
    return path


def process_env(*, database: Path | str, metrics_dir: Path, **overrides) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MQTT_", "INGEST_", "DATABASE_URL", "MONGODB_URI", "PROMETHEUS_MULTIPROC_DIR"))
    }
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DATABASE_URL": database if isinstance(database, str) else f"sqlite:///{database}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "smartmeter.settings",
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


@dataclass
class ConsumerProcess:
    """`manage.py mqtt_consumer` in a subprocess, restartable under the same client id (same session)."""

    env: dict
    log_path: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    def start(self) -> ConsumerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "mqtt_consumer", *self.args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_subscribed(self, timeout: float = 20) -> None:
        def subscribed():
            if self.process.poll() is not None:
                raise AssertionError(f"consumer exited early:\n{self.log()}")
            return "subscribed to" in self.log() or "resuming session" in self.log()

        wait_until(subscribed, timeout=timeout, message="the consumer to subscribe")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def consumers(tmp_path):
    """Build consumer subprocesses; every one is stopped at the end of the test."""
    started: list[ConsumerProcess] = []

    def build(*, database: Path | str, broker_url: str, client_id: str = "test-consumer", args=(), **env):
        overrides = {"MQTT_URL": broker_url, "MQTT_CLIENT_ID": client_id, "INGEST_BATCH_MAX_AGE": "0.1"}
        overrides.update(env)
        consumer = ConsumerProcess(
            env=process_env(database=database, metrics_dir=tmp_path / "metrics", **overrides),
            log_path=tmp_path / f"consumer-{len(started)}.log",
            args=list(args),
        )
        started.append(consumer)
        return consumer

    yield build
    for consumer in started:
        consumer.stop()


def sqlite_scalar(path: Path, sql: str, params=()):
    with sqlite3.connect(path, timeout=10) as connection:
        return connection.execute(sql, params).fetchone()[0]


def sqlite_rows(path: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(path, timeout=10) as connection:
        return connection.execute(sql, params).fetchall()


def stored_count(path: Path) -> int:
    return sqlite_scalar(path, "SELECT COUNT(*) FROM readings_reading")


def telemetry(when: datetime, register: float, **fields) -> bytes:
    payload = {
        "timestamp": when.astimezone(UTC).isoformat(timespec="milliseconds"),
        "voltage": 230.5,
        "current": 2.5,
        "power_w": 540.0,
        "energy_kwh": round(register, 4),
        "power_factor": 0.95,
        "rssi": -60,
    }
    payload.update(fields)
    return json.dumps(payload).encode()


def telemetry_stream(count: int, *, meters=METERS, start: datetime | None = None, step=timedelta(seconds=1)):
    """`count` distinct valid messages spread over `meters`, oldest first."""
    start = start or datetime.now(UTC) - timedelta(hours=2)
    for index in range(count):
        device_id = meters[index % len(meters)]
        when = start + step * (index // len(meters))
        yield f"smartmeter/{device_id}/telemetry", telemetry(when, 100 + index * 0.01)


def publisher_for(url: str, **kwargs) -> TelemetryPublisher:
    publisher = TelemetryPublisher(BrokerSettings.from_url(url, **kwargs), client_id=f"test-pub-{time.monotonic_ns()}")
    publisher.connect(timeout=10)
    return publisher


def broker_answers(url: str, **kwargs) -> bool:
    return broker_probe(BrokerSettings.from_url(url, **kwargs), timeout=2) is not None


def sever_connection(watcher: TelemetryWatcher) -> None:
    """Cut a watcher's TCP connection, as a broker restart would: both ends see it closed.

    (Closing the socket object under paho instead makes it reconnect without reporting the drop.)
    """
    watcher._client.socket().shutdown(socket.SHUT_RDWR)
