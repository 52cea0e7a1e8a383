# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""A store outage delays ingestion but loses nothing.

The consumer writes to a PostgreSQL database created for this test alone; the outage is
made by refusing connections to that one database and terminating its sessions (the
machine's PostgreSQL keeps serving everyone else). While it lasts, the consumer retries
with back-off and acknowledges nothing; killed during the outage, its unacknowledged
messages come back to the next consumer.
"""

import os
import subprocess
import uuid

import pytest

from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    BASE_DIR,
    PYTHON,
    SEED_DEVICES,
    consumers,
    mqtt_broker,
    process_env,
    publisher_for,
    telemetry_stream,
)
from tests.support.network import wait_until
from tests.support.services import require_service

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin(sql: str, params=None) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql, params)


@pytest.fixture
def outage_database(tmp_path):
    """A migrated PostgreSQL database of our own, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"smartmeter_outage_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    env = process_env(database=url, metrics_dir=tmp_path / "metrics")
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
        subprocess.run([PYTHON, "manage.py", "shell", "-c", SEED_DEVICES], cwd=BASE_DIR, env=env, check=True)
        yield name, url
    finally:
        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored(name: str) -> int:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as connection:
        return connection.execute("SELECT COUNT(*) FROM readings_reading").fetchone()[0]


def outage_begin(name: str) -> None:
    admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


def outage_end(name: str) -> None:
    admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def publish(url: str, messages) -> int:
    publisher = publisher_for(url)
    count = 0
    for topic, body in messages:
        publisher.publish(topic, body)
        count += 1
    assert publisher.flush(timeout=20)
    publisher.close()
    return count


def test_a_database_outage_delays_ingestion_but_loses_nothing(outage_database, mqtt_broker, consumers):
    name, url = outage_database
    stream = list(telemetry_stream(2400))
    consumer = consumers(database=url, broker_url=mqtt_broker.url, args=["--batch-size", "200"]).start()
    consumer.wait_subscribed()
    publish(mqtt_broker.url, stream[:400])
    wait_until(lambda: stored(name) == 400, timeout=15, message="400 readings before the outage")

    # Outage 1: the consumer rides it out in the same process.
    outage_begin(name)
    publish(mqtt_broker.url, stream[400:1200])
    wait_until(lambda: "failed (attempt 2)" in consumer.log(), timeout=15, message="retries during the outage")
    assert consumer.process.poll() is None
    outage_end(name)
    wait_until(lambda: stored(name) == 1200, timeout=40, message="the backlog after the outage")
    assert "store available again" in consumer.log()

    # Outage 2: the consumer is killed while the store is down; nothing it held was acknowledged.
    outage_begin(name)
    publish(mqtt_broker.url, stream[1200:])
    wait_until(lambda: consumer.log().count("failed (attempt 1)") >= 2, timeout=15, message="the second outage")
    consumer.kill()
    outage_end(name)
    restarted = consumers(database=url, broker_url=mqtt_broker.url).start()
    restarted.wait_subscribed()
    wait_until(lambda: stored(name) == len(stream), timeout=40, message="every published reading")
    assert restarted.terminate() == 0
