# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""A meter exchange seen by ingestion end to end: the exchange recorded by the real service, telemetry
published to a real Mosquitto, `manage.py mqtt_consumer` storing or dead-lettering it in a shared SQLite file."""

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    BASE_DIR,
    PYTHON,
    RETIRED_METER,
    consumers,
    ingest_db,
    ingest_db_template,
    mqtt_broker,
    process_env,
    publisher_for,
    sqlite_rows,
    sqlite_scalar,
    stored_count,
    telemetry,
)
from tests.support.network import wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="consumer subprocesses use their own SQLite file: run once, in the SQLite pass",
    ),
]

EXCHANGE = """
from datetime import datetime, timedelta
from decimal import Decimal
from devices.models import Device
from devices.services import device_exchange
at = datetime.fromisoformat({instant!r})
Device.objects.filter(device_id="meter-001").update(created_at=at - timedelta(days=30))
device_exchange(
    old_device=Device.objects.get(device_id="meter-001"),
    new_device_id="meter-101",
    old_final_register=Decimal("250.500"),
    new_initial_register=Decimal("0.100"),
    exchanged_at=at,
    actor=None,
)
"""


def publish_all(url: str, messages) -> None:
    publisher = publisher_for(url)
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
        assert publisher.flush(timeout=30)
    finally:
        publisher.close()


def test_the_old_meters_telemetry_after_the_exchange_is_dead_lettered_and_its_late_readings_kept(
    ingest_db, mqtt_broker, consumers, tmp_path
):
    instant = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", EXCHANGE.format(instant=instant.isoformat())],
        cwd=BASE_DIR,
        env=process_env(database=ingest_db, metrics_dir=tmp_path / "metrics"),
        check=True,
        capture_output=True,
    )
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()

    publish_all(
        mqtt_broker.url,
        [
            # Buffered by the old meter before it came off: delivered late, still stored.
            ("smartmeter/meter-001/telemetry", telemetry(instant - timedelta(minutes=10), 250.4)),
            ("smartmeter/meter-001/telemetry", telemetry(instant, 250.5)),
            ("smartmeter/meter-001/telemetry", telemetry(instant + timedelta(minutes=5), 250.6)),
            ("smartmeter/meter-101/telemetry", telemetry(instant + timedelta(minutes=5), 0.2)),
            # Retired without an exchange: refused whatever its timestamp, as before.
            (f"smartmeter/{RETIRED_METER}/telemetry", telemetry(instant - timedelta(minutes=10), 1.0)),
        ],
    )

    wait_until(
        lambda: (
            sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_deadletter") == 3 and stored_count(ingest_db) == 2
        ),
        timeout=15,
        message="2 stored, 3 dead letters",
    )
    assert consumer.terminate() == 0
    assert "2 stored, 0 duplicates, 3 rejected, 5 acknowledged" in consumer.log()

    stored = sqlite_rows(ingest_db, "SELECT device_id, energy_kwh FROM readings_reading ORDER BY device_id")
    assert stored == [("meter-001", 250.4), ("meter-101", 0.2)]
    dead = sqlite_rows(ingest_db, "SELECT reason, device_id, detail FROM readings_deadletter ORDER BY id")
    shown = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    refused = f"meter 'meter-001' was exchanged for 'meter-101' at {shown}; readings after it are refused"
    assert sorted(dead) == sorted(
        [
            ("meter_exchanged", "meter-001", refused),
            ("meter_exchanged", "meter-001", refused),
            ("decommissioned_device", RETIRED_METER, f"meter {RETIRED_METER!r} is decommissioned"),
        ]
    )
    assert sqlite_scalar(ingest_db, "SELECT status FROM devices_device WHERE device_id='meter-001'") == "decommissioned"
