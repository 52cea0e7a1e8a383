# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""A redelivered message without a timestamp is stored once (readings.ingestion.redelivery).

Such a message is stored at its receive time; when the broker sends the same packet again
(same packet id, DUP flag) it must get the same instant back, not a new one.
"""

import json
import threading
import time
from datetime import timedelta

import paho.mqtt.client as paho
import pytest
from django.db import connection
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from readings.ingestion.batch import readings_ingest_batch
from readings.ingestion.messages import TelemetryMessage
from readings.ingestion.redelivery import untimed_key, untimed_record
from readings.models import UntimedDelivery
from readings.stores import get_store
from tests.factories import DeviceFactory
from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    consumers,
    ingest_db,
    ingest_db_template,
    mqtt_broker,
    publisher_for,
    sqlite_scalar,
    stored_count,
)
from tests.support.network import wait_until


def untimed(register: float, **fields) -> bytes:
    body = {"voltage": 230.0, "current": 1.5, "power_w": 330.0, "energy_kwh": register, "power_factor": 0.96}
    return json.dumps({**body, "rssi": -58, **fields}).encode()


def delivery(body: bytes, *, mid: int, redelivered=False, received_at=None, device_id="meter-a", qos=1):
    return TelemetryMessage(
        f"smartmeter/{device_id}/telemetry",
        body,
        received_at or timezone.now(),
        mid=mid,
        qos=qos,
        redelivered=redelivered,
    )


@pytest.fixture
def meter(customer):
    return DeviceFactory(device_id="meter-a", owner=customer)


# --- the rule, on the real database ------------------------------------------------


@pytest.mark.django_db
def test_a_redelivered_untimed_packet_gets_its_first_instant_back(meter):
    first = readings_ingest_batch(messages=[delivery(untimed(10.0), mid=7)])
    later = timezone.now() + timedelta(seconds=30)
    again = readings_ingest_batch(messages=[delivery(untimed(10.0), mid=7, redelivered=True, received_at=later)])
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert get_store().count("meter-a") == 1


@pytest.mark.django_db
def test_both_copies_in_one_batch_are_one_reading(meter):
    now = timezone.now()
    outcome = readings_ingest_batch(
        messages=[
            delivery(untimed(10.0), mid=3, received_at=now),
            delivery(untimed(10.0), mid=3, redelivered=True, received_at=now + timedelta(seconds=2)),
        ]
    )
    assert (outcome.stored, outcome.duplicates) == (1, 1)


@pytest.mark.django_db
def test_what_is_not_a_redelivery_of_a_stored_packet_is_stored(meter):
    now = timezone.now()
    readings_ingest_batch(messages=[delivery(untimed(10.0), mid=7, received_at=now - timedelta(seconds=60))])
    outcomes = [
        # The meter sends the very same values again, as a new packet: a new reading.
        readings_ingest_batch(messages=[delivery(untimed(10.0), mid=8, received_at=now - timedelta(seconds=50))]),
        # A DUP packet never stored before (the consumer stopped before its batch committed).
        readings_ingest_batch(
            messages=[delivery(untimed(11.0), mid=9, redelivered=True, received_at=now - timedelta(seconds=40))]
        ),
        # The packet id of an acknowledged packet, reused for other values.
        readings_ingest_batch(
            messages=[delivery(untimed(12.0), mid=7, redelivered=True, received_at=now - timedelta(seconds=30))]
        ),
        # Identical values on a packet id reused without the DUP flag.
        readings_ingest_batch(messages=[delivery(untimed(10.0), mid=7, received_at=now - timedelta(seconds=20))]),
    ]
    assert [outcome.stored for outcome in outcomes] == [1, 1, 1, 1]
    assert get_store().count("meter-a") == 5


@pytest.mark.django_db
def test_a_backlog_of_untimed_packets_received_in_one_millisecond_keeps_every_reading(meter):
    now = timezone.now().replace(microsecond=500)
    batch = [delivery(untimed(10.0 + index), mid=20 + index, received_at=now) for index in range(5)]
    outcome = readings_ingest_batch(messages=batch)
    assert (outcome.stored, outcome.duplicates) == (5, 0)
    instants = [
        row["timestamp"]
        for row in get_store().series(
            "meter-a", start=now - timedelta(seconds=1), end=now + timedelta(seconds=1), agg="raw", tz="UTC"
        )
    ]
    assert len(instants) == 5
    # Redelivered later, each copy finds its own instant again.
    again = readings_ingest_batch(
        messages=[
            delivery(untimed(10.0 + index), mid=20 + index, redelivered=True, received_at=now + timedelta(seconds=9))
            for index in range(5)
        ]
    )
    assert (again.stored, again.duplicates) == (0, 5)


@pytest.mark.django_db
def test_only_untimed_qos1_packets_are_remembered(meter):
    when = timezone.now() - timedelta(minutes=1)
    assert untimed_key(delivery(untimed(1.0, timestamp=when.isoformat()), mid=5)) is None
    assert untimed_key(delivery(untimed(1.0), mid=0, qos=0)) is None
    assert untimed_key(TelemetryMessage("smartmeter/meter-a/telemetry", untimed(1.0), timezone.now())) is None
    readings_ingest_batch(messages=[delivery(untimed(1.0, timestamp=when.isoformat()), mid=5)])
    assert not UntimedDelivery.objects.exists()
    readings_ingest_batch(messages=[delivery(untimed(2.0), mid=6)])
    assert list(UntimedDelivery.objects.values_list("device_id", "packet_id")) == [("meter-a", 6)]


@pytest.mark.django_db
def test_rows_older_than_the_session_expiry_are_pruned(meter, settings):
    settings.MQTT_SESSION_EXPIRY = 3600
    now = timezone.now()
    old = untimed_key(delivery(untimed(1.0), mid=1))
    untimed_record([(old, now - timedelta(hours=3))], now=now - timedelta(hours=2))
    fresh = untimed_key(delivery(untimed(2.0), mid=2))
    untimed_record([(fresh, now)], now=now)
    assert list(UntimedDelivery.objects.values_list("packet_id", flat=True)) == [2]


# --- the broker does its part ------------------------------------------------------


@pytest.mark.broker
def test_mosquitto_resends_an_unacknowledged_packet_with_its_id_and_the_dup_flag(mqtt_broker):
    host, port = "127.0.0.1", mqtt_broker.port
    received: list[tuple[int, bool]] = []
    got = threading.Event()

    def connect():
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="dup-check", protocol=paho.MQTTv5)
        client.manual_ack_set(True)
        client.on_message = lambda c, u, message: (received.append((message.mid, bool(message.dup))), got.set())
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300
        client.connect(host, port, clean_start=False, properties=properties)
        client.loop_start()
        return client

    client = connect()
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.subscribe("smartmeter/+/telemetry", qos=1)
    assert subscribed.wait(15)
    publisher = publisher_for(mqtt_broker.url)
    publisher.publish("smartmeter/meter-a/telemetry", untimed(1.0))
    assert publisher.flush(timeout=15)
    publisher.close()
    assert got.wait(15)
    client.disconnect()  # without acknowledging
    client.loop_stop()

    got.clear()
    client = connect()
    assert got.wait(15), "the unacknowledged packet was not sent again"
    client.disconnect()
    client.loop_stop()
    (first_mid, first_dup), (again_mid, again_dup) = received
    assert (first_dup, again_dup) == (False, True)
    assert again_mid == first_mid


# --- end to end: the consumer loses its connection with a batch in hand ------------------


@pytest.mark.broker
@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="consumer subprocesses use their own SQLite file: run once, in the SQLite pass",
)
def test_untimed_telemetry_in_flight_across_a_broker_restart_is_stored_once(ingest_db, mqtt_broker, consumers):
    consumer = consumers(
        database=ingest_db, broker_url=mqtt_broker.url, args=["--batch-size", "1000", "--batch-age", "8"]
    ).start()
    consumer.wait_subscribed()
    publisher = publisher_for(mqtt_broker.url)
    for index in range(50):
        publisher.publish(f"smartmeter/meter-00{1 + index % 3}/telemetry", untimed(100 + index))
    assert publisher.flush(timeout=15)
    publisher.close()
    time.sleep(2.0)  # received, and held in the consumer's open batch (flushed 8 s after its first message)

    # The broker goes away before the batch commits: the acknowledgements of this connection are
    # lost, and the restarted broker sends the 50 packets again, marked DUP.
    mqtt_broker.stop()
    mqtt_broker.start()
    wait_until(lambda: stored_count(ingest_db) >= 50, timeout=30, message="the batch to commit")
    time.sleep(2.0)  # room for a second copy of each to be stored, were they not recognised
    assert stored_count(ingest_db) == 50
    assert sqlite_scalar(ingest_db, "SELECT COUNT(*) FROM readings_untimeddelivery") == 50
    assert consumer.terminate() == 0
    assert "50 stored, 50 duplicates, 0 rejected" in consumer.log(), consumer.log()[-3000:]
