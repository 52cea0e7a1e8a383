# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""`manage.py mqtt_consumer` end to end: a real Mosquitto running deploy/mosquitto.conf, the consumer
as a subprocess, a SQLite file both sides read. Published = stored, whatever happens in between."""

import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from tests.dashboard.live_helpers import publish
from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    BASE_DIR,
    METERS,
    PYTHON,
    RETIRED_METER,
    consumers,
    ingest_db,
    ingest_db_template,
    mqtt_broker,
    publisher_for,
    sqlite_rows,
    sqlite_scalar,
    stored_count,
    telemetry,
    telemetry_stream,
)
from tests.support.network import free_port, port_open, wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="consumer subprocesses use their own SQLite file: run once, in the SQLite pass",
    ),
]


def publish_all(url: str, messages) -> int:
    publisher = publisher_for(url)
    count = 0
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
            count += 1
        assert publisher.flush(timeout=30)
    finally:
        publisher.close()
    return count


def test_published_telemetry_is_stored_once_and_acknowledged(ingest_db, mqtt_broker, consumers):
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    published = publish_all(mqtt_broker.url, telemetry_stream(300))

    wait_until(lambda: stored_count(ingest_db) == published, timeout=20, message="300 readings stored")
    assert consumer.terminate() == 0
    assert "300 stored, 0 duplicates, 0 rejected, 300 acknowledged" in consumer.log()

    # Everything was acknowledged: the same session resumed delivers nothing again.
    again = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    again.wait_subscribed()
    assert "resuming session" in again.log()
    time.sleep(1.0)
    assert again.terminate() == 0
    assert "0 stored, 0 duplicates, 0 rejected, 0 acknowledged" in again.log()
    assert stored_count(ingest_db) == 300


def test_meters_heard_from_come_online_with_last_seen(ingest_db, mqtt_broker, consumers):
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    now = datetime.now(UTC)
    publish_all(mqtt_broker.url, [("smartmeter/meter-001/telemetry", telemetry(now, 10.0))])
    wait_until(lambda: stored_count(ingest_db) == 1, timeout=10, message="the reading")
    wait_until(
        lambda: sqlite_scalar(ingest_db, "SELECT status FROM devices_device WHERE device_id='meter-001'") == "online",
        timeout=15,
        message="meter-001 online",
    )
    last_seen = sqlite_scalar(ingest_db, "SELECT last_seen FROM devices_device WHERE device_id='meter-001'")
    assert datetime.fromisoformat(last_seen).replace(tzinfo=UTC) == now.replace(
        microsecond=now.microsecond // 1000 * 1000
    )
    assert sqlite_scalar(ingest_db, "SELECT status FROM devices_device WHERE device_id='meter-002'") == "offline"


def test_invalid_telemetry_is_acknowledged_into_the_dead_letter_store_with_its_reason(
    ingest_db, mqtt_broker, consumers
):
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    now = datetime.now(UTC)
    bad = [
        ("smartmeter/meter-001/telemetry", b"not json at all"),
        ("smartmeter/meter-001/telemetry", telemetry(now, 1.0, voltage=9000)),
        ("smartmeter/ghost-meter/telemetry", telemetry(now, 1.0)),
        (f"smartmeter/{RETIRED_METER}/telemetry", telemetry(now, 1.0)),
        ("smartmeter/meter-002/telemetry", telemetry(now, 1.0, device_id="meter-003")),
        ("smartmeter/meter-002/telemetry", b"x" * 5000),
    ]
    good = [("smartmeter/meter-004/telemetry", telemetry(now, 1.0))]
    publish_all(mqtt_broker.url, bad + good)

    wait_until(
        lambda: sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_deadletter") == 6,
        timeout=10,
        message="6 dead letters",
    )
    reasons = {row[0] for row in sqlite_rows(ingest_db, "SELECT reason FROM readings_deadletter")}
    assert reasons == {
        "not_json",
        "out_of_range",
        "unknown_device",
        "decommissioned_device",
        "device_mismatch",
        "oversize",
    }
    assert stored_count(ingest_db) == 1
    assert consumer.terminate() == 0
    assert "1 stored, 0 duplicates, 6 rejected, 7 acknowledged" in consumer.log()
    assert "ghost-meter" in consumer.log()  # rejections are logged with the meter id


def test_a_redelivered_reading_never_creates_a_second_row(ingest_db, mqtt_broker, consumers):
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    messages = list(telemetry_stream(100))
    publish_all(mqtt_broker.url, messages)
    wait_until(lambda: stored_count(ingest_db) == 100, timeout=15, message="first copies")
    marker = ("smartmeter/meter-001/telemetry", telemetry(datetime.now(UTC), 999.0))
    publish_all(mqtt_broker.url, [*messages, *messages[:10], marker])  # the meter (or the broker) sends them again

    wait_until(lambda: stored_count(ingest_db) == 101, timeout=15, message="the marker after the copies")
    assert consumer.terminate() == 0
    assert "101 stored, 110 duplicates, 0 rejected, 211 acknowledged" in consumer.log()


def test_messages_queued_while_the_consumer_is_away_all_arrive(ingest_db, mqtt_broker, consumers):
    """The persistent session plus the raised max_queued_messages: more than Mosquitto's default 1000."""
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    assert consumer.terminate() == 0

    published = publish_all(mqtt_broker.url, telemetry_stream(2500))
    consumers(database=ingest_db, broker_url=mqtt_broker.url).start().wait_subscribed()
    wait_until(lambda: stored_count(ingest_db) == published, timeout=25, message="the 2500 queued messages")


def test_queued_messages_survive_a_broker_restart(ingest_db, mqtt_broker, consumers):
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    assert consumer.terminate() == 0
    published = publish_all(mqtt_broker.url, telemetry_stream(400))

    mqtt_broker.stop()  # persistence: the session and its queue are written to disk
    mqtt_broker.start()
    consumers(database=ingest_db, broker_url=mqtt_broker.url).start().wait_subscribed()
    wait_until(lambda: stored_count(ingest_db) == published, timeout=20, message="messages queued before the restart")


@pytest.mark.slow
def test_a_consumer_killed_mid_stream_and_restarted_loses_nothing(ingest_db, mqtt_broker, consumers):
    total = 6000
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url, args=["--batch-size", "200"]).start()
    consumer.wait_subscribed()

    publishing = threading.Thread(target=publish_all, args=(mqtt_broker.url, telemetry_stream(total)))
    publishing.start()
    wait_until(lambda: stored_count(ingest_db) >= 1000, timeout=20, interval=0.02, message="the stream to flow")
    consumer.kill()  # SIGKILL: no chance to finish the batch or ack anything in hand
    killed_at = stored_count(ingest_db)
    assert killed_at < total

    publishing.join(30)
    restarted = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    restarted.wait_subscribed()
    wait_until(lambda: stored_count(ingest_db) == total, timeout=25, message=f"all {total} readings")
    assert restarted.terminate() == 0
    assert sqlite_scalar(ingest_db, "SELECT COUNT(DISTINCT device_id || timestamp) FROM readings_reading") == total


def test_shared_subscription_splits_the_stream_between_consumers(ingest_db, mqtt_broker, consumers):
    first = consumers(database=ingest_db, broker_url=mqtt_broker.url, client_id="group-a", args=["--group", "ingest"])
    second = consumers(database=ingest_db, broker_url=mqtt_broker.url, client_id="group-b", args=["--group", "ingest"])
    first.start().wait_subscribed()
    second.start().wait_subscribed()
    published = publish_all(mqtt_broker.url, telemetry_stream(600))

    wait_until(lambda: stored_count(ingest_db) == published, timeout=20, message="600 readings from two consumers")
    assert first.terminate() == 0
    assert second.terminate() == 0
    stored_by = [int(log.split(" stored,")[0].rsplit(" ", 1)[1]) for log in (first.log(), second.log())]
    assert sum(stored_by) == published
    assert all(count > 0 for count in stored_by)  # each consumer took a share


def test_sigterm_finishes_the_batch_in_hand_and_exits_cleanly(ingest_db, mqtt_broker, consumers):
    consumer = consumers(
        database=ingest_db, broker_url=mqtt_broker.url, args=["--batch-size", "1000", "--batch-age", "30"]
    ).start()
    consumer.wait_subscribed()
    publish_all(mqtt_broker.url, telemetry_stream(50))  # far below the batch size, far before its age
    time.sleep(0.5)
    assert stored_count(ingest_db) == 0  # still collecting

    assert consumer.terminate(timeout=15) == 0
    assert stored_count(ingest_db) == 50
    assert "50 stored, 0 duplicates, 0 rejected, 50 acknowledged" in consumer.log()


def test_the_consumer_waits_for_a_broker_that_starts_later(ingest_db, mqtt_broker, consumers):
    mqtt_broker.stop()
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    wait_until(lambda: "waiting for the MQTT broker" in consumer.log(), timeout=15, message="the waiting notice")
    mqtt_broker.start()
    consumer.wait_subscribed(timeout=20)
    publish_all(
        mqtt_broker.url, telemetry_stream(20, meters=METERS[:2], start=datetime.now(UTC) - timedelta(minutes=1))
    )
    wait_until(lambda: stored_count(ingest_db) == 20, timeout=10, message="20 readings")


# --- retained messages (docs/ingestion.md#retained-messages) ------------------


def readings_of(path, device_id: str) -> list[float]:
    rows = sqlite_rows(
        path, "SELECT energy_kwh FROM readings_reading WHERE device_id = ? ORDER BY timestamp", [device_id]
    )
    return [row[0] for row in rows]


def test_a_retained_message_is_never_handed_to_a_new_session_and_retain_flagged_live_ones_are_stored(
    ingest_db, mqtt_broker, consumers
):
    """MQTT v5 with the shipped config: Retain Handling 2 keeps the broker's stored copy back.
    A meter set to retain still gets every reading stored: live and queued deliveries carry retain=0."""
    broker = (mqtt_broker.host, mqtt_broker.port)
    publish(broker, "meter-001", telemetry(datetime.now(UTC) - timedelta(days=2), 1.0), retain=True)

    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url, client_id="retained-v5").start()
    consumer.wait_subscribed()
    assert "without a session" in consumer.log()
    publish(broker, "meter-002", telemetry(datetime.now(UTC), 2.0), retain=True)
    wait_until(lambda: stored_count(ingest_db) == 1, timeout=15, message="the live reading")
    assert consumer.terminate() == 0
    assert "1 stored, 0 duplicates, 0 rejected, 1 acknowledged" in consumer.log()

    # Queued for the session while the consumer is away: delivered to an existing subscription.
    publish(broker, "meter-003", telemetry(datetime.now(UTC), 3.0), retain=True)
    again = consumers(database=ingest_db, broker_url=mqtt_broker.url, client_id="retained-v5").start()
    again.wait_subscribed()
    assert "resuming session" in again.log()
    wait_until(lambda: stored_count(ingest_db) == 2, timeout=15, message="the queued reading")
    time.sleep(1.0)  # room for a replay of the three retained messages, which must not come
    assert again.terminate() == 0
    assert "1 stored, 0 duplicates, 0 rejected, 1 acknowledged" in again.log()
    assert (readings_of(ingest_db, "meter-001"), readings_of(ingest_db, "meter-002")) == ([], [2.0])
    assert readings_of(ingest_db, "meter-003") == [3.0]
    assert sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_deadletter") == 0


@pytest.fixture
def amqtt_broker(tmp_path):
    """The embedded run's pip-installed broker (MQTT 3.1.1 only), as `make run` starts it without Mosquitto."""
    port = free_port()
    env = {**os.environ, "MQTT_URL": f"mqtt://127.0.0.1:{port}", "DATABASE_URL": f"sqlite:///{tmp_path}/broker.db"}
    with (tmp_path / "amqtt.log").open("ab") as log:
        broker = subprocess.Popen(
            [PYTHON, "manage.py", "run_broker", "--directory", str(tmp_path / "amqtt"), "--engine", "amqtt"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: port_open("127.0.0.1", port, timeout=0.2), timeout=20, message="the amqtt broker")
        yield ("127.0.0.1", port)
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def test_on_mqtt_3_a_retained_replay_is_acknowledged_into_the_dead_letters_not_stored(
    ingest_db, amqtt_broker, consumers
):
    """MQTT 3.1.1 cannot keep retained messages back: the consumer refuses them by their flag,
    acknowledges them (never blocking the session) and keeps them as dead letters."""
    host, port = amqtt_broker
    url = f"mqtt://{host}:{port}"
    publish(amqtt_broker, "meter-001", telemetry(datetime.now(UTC) - timedelta(days=2), 1.0), retain=True)

    consumer = consumers(database=ingest_db, broker_url=url, client_id="retained-v3").start()
    consumer.wait_subscribed()
    wait_until(
        lambda: sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_deadletter") == 1,
        timeout=15,
        message="the retained message dead-lettered",
    )
    publish(amqtt_broker, "meter-002", telemetry(datetime.now(UTC), 2.0))
    wait_until(lambda: stored_count(ingest_db) == 1, timeout=15, message="the live reading")
    assert consumer.terminate() == 0
    assert "MQTT 3.1.1" in consumer.log()
    assert "1 stored, 0 duplicates, 1 rejected, 2 acknowledged, 0 left for redelivery" in consumer.log()
    assert "rejected telemetry from meter-001 (retained)" in consumer.log()
    assert sqlite_rows(ingest_db, "SELECT reason, device_id FROM readings_deadletter") == [("retained", "meter-001")]
    assert readings_of(ingest_db, "meter-001") == []


def test_a_second_register_at_a_stored_instant_is_acknowledged_into_the_dead_letters(ingest_db, mqtt_broker, consumers):
    """Decision 10 through the real path: the first register at an instant stays; the second is
    refused with its own reason, acknowledged, and never edits the stored reading."""
    consumer = consumers(database=ingest_db, broker_url=mqtt_broker.url).start()
    consumer.wait_subscribed()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    topic = "smartmeter/meter-001/telemetry"
    publish_all(mqtt_broker.url, [(topic, telemetry(at, 100.0)), (topic, telemetry(at, 105.0))])

    wait_until(
        lambda: sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_deadletter") == 1,
        timeout=15,
        message="the second register dead-lettered",
    )
    assert consumer.terminate() == 0
    assert readings_of(ingest_db, "meter-001") == [100.0]
    ((reason, detail),) = sqlite_rows(ingest_db, "SELECT reason, detail FROM readings_deadletter")
    assert reason == "conflicting_reading"
    assert detail.endswith("already stored with register 100.000 kWh; this one says 105.000")
    assert "rejected telemetry from meter-001 (conflicting_reading)" in consumer.log()
