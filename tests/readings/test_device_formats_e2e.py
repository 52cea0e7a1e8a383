# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""Off-the-shelf meters end to end: each format's documented sample published to a real Mosquitto,
taken by the ingestion consumer (in this process, on the test database), and found through the
readings API mapped onto the reading schema; hostile variants dead-lettered with the field named,
and the consumer still taking readings after them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import OperationalError, connection

from devices.identity import DSMR_READER, NATIVE, SHELLY_GEN2, TASMOTA, ingest_topic_filters
from readings.ingestion.consumer import ConsumerOptions, IngestConsumer
from readings.ingestion.mqtt import BrokerSettings
from readings.models import DeadLetter
from readings.stores import get_store
from tests.factories import DeviceFactory
from tests.readings.format_samples import DSMR
from tests.readings.ingest_helpers import mqtt_broker, publisher_for  # noqa: F401 - fixtures
from tests.support.network import wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the consumer writes from its own thread, which SQLite's shared in-memory test database "
        "answers with table locks: runs in the PostgreSQL pass",
    ),
]

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def meters(customer):
    for device_id, payload_format in (
        ("tasmota-1", TASMOTA),
        ("shelly-1", SHELLY_GEN2),
        ("dsmr-1", DSMR_READER),
        ("native-1", NATIVE),
    ):
        DeviceFactory(device_id=device_id, owner=customer, payload_format=payload_format)


@pytest.fixture
def consumer(mqtt_broker, meters, settings):
    settings.TASMOTA_TIME_ZONE = "Asia/Kolkata"
    running = IngestConsumer(
        broker=BrokerSettings.from_url(mqtt_broker.url),
        options=ConsumerOptions(
            client_id="formats-e2e",
            topic=ingest_topic_filters()[0],
            topics=ingest_topic_filters(),
            batch_size=50,
            batch_max_age=0.1,
            receive_maximum=100,
            session_expiry=600,
        ),
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    wait_until(
        lambda: running._subscriber is not None and running._subscriber.wait_subscribed(0.2),
        timeout=15,
        message="the consumer subscribed",
    )
    yield running
    running.request_stop("test over")
    thread.join(timeout=20)
    assert not thread.is_alive()


def polled(count) -> callable:
    """A wait_until condition reading a count; on SQLite's shared in-memory test database the
    consumer's writer thread may hold a table lock for a moment: then the answer is "not yet"."""

    def condition():
        try:
            return count()
        except OperationalError:
            return False

    return condition


def publish(url: str, messages: list[tuple[str, dict | bytes]]) -> None:
    publisher = publisher_for(url)
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        assert publisher.flush(timeout=15)
    finally:
        publisher.close()


def tasmota_sensor(now: datetime, total: float, **energy) -> dict:
    # Tasmota documentation, "Energy monitoring": tele/<topic>/SENSOR every TelePeriod; Time is local, no offset.
    body = {
        "TotalStartTime": "2026-01-01T00:00:00",
        "Total": total,
        "Yesterday": 1.2,
        "Today": 0.8,
        "Period": 0,
        "Power": 230,
        "ApparentPower": 250,
        "ReactivePower": 98,
        "Factor": 0.92,
        "Voltage": 231,
        "Current": 1.08,
    }
    body.update(energy)
    return {"Time": now.astimezone(KOLKATA).replace(tzinfo=None).isoformat(timespec="seconds"), "ENERGY": body}


# Shelly API documentation (Gen2+), EM.GetStatus and EMData.GetStatus of a Pro 3EM.
SHELLY_EM = {
    "id": 0,
    "a_current": 4.029,
    "a_voltage": 236.1,
    "a_act_power": 951.2,
    "a_aprt_power": 951.9,
    "a_pf": 1,
    "a_freq": 50,
    "b_current": 4.027,
    "b_voltage": 236.201,
    "b_act_power": -951.1,
    "b_aprt_power": 951.8,
    "b_pf": 1,
    "b_freq": 50,
    "c_current": 3.03,
    "c_voltage": 236.402,
    "c_act_power": 715.4,
    "c_aprt_power": 716.3,
    "c_pf": 1,
    "c_freq": 50,
    "n_current": None,
    "total_current": 11.085,
    "total_act_power": 715.5,
    "total_aprt_power": 2620,
    "user_calibrated_phase": [],
}
SHELLY_EMDATA = {
    "id": 0,
    "a_total_act_energy": 2776.21,
    "a_total_act_ret_energy": 0,
    "b_total_act_energy": 0,
    "b_total_act_ret_energy": 2776.07,
    "c_total_act_energy": 2097.08,
    "c_total_act_ret_energy": 0,
    "total_act": 4873.29,
    "total_act_ret": 2776.07,
}


def dsmr_telegram(now: datetime, **overrides) -> dict:
    """The documented dsmr-reader JSON telegram, timestamped `now` (Asia/Kolkata offset)."""
    return {**DSMR, "timestamp": now.astimezone(KOLKATA).isoformat(timespec="seconds"), **overrides}


def latest(api, user, device_id: str) -> dict:
    response = api(user).get(f"/api/readings/{device_id}/latest", {"tz": "UTC"})
    assert response.status_code == 200, response.content
    return response.json()


def test_each_formats_documented_sample_is_stored_mapped_and_served_by_the_readings_api(
    mqtt_broker, consumer, meters, api, customer
):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    publish(
        mqtt_broker.url,
        [
            ("tele/tasmota-1/SENSOR", tasmota_sensor(now, 12.345)),
            ("shelly/shelly-1/status/em:0", SHELLY_EM),
            ("shelly/shelly-1/status/emdata:0", SHELLY_EMDATA),
            ("dsmr/dsmr-1/json", dsmr_telegram(now)),
        ],
    )
    store = get_store()
    wait_until(polled(lambda: store.count() == 3), timeout=15, message="three readings stored")

    tasmota = latest(api, customer, "tasmota-1")
    assert datetime.fromisoformat(tasmota["timestamp"]) == now  # local Time read in Asia/Kolkata
    assert tasmota["energy_kwh"] == 12.345
    assert (tasmota["power_w"], tasmota["voltage"], tasmota["current"], tasmota["power_factor"]) == (
        230.0,
        231.0,
        1.08,
        0.92,
    )
    assert tasmota["rssi"] is None

    shelly = latest(api, customer, "shelly-1")
    assert shelly["energy_kwh"] == pytest.approx(4.87329)  # Wh -> kWh
    assert shelly["energy_export_kwh"] == pytest.approx(2.77607)
    assert shelly["power_w"] == 715.5  # joined from the em:0 message before it
    assert shelly["current"] == 11.085
    assert set(shelly["phases"]) == {"L1", "L2", "L3"}
    assert shelly["phases"]["L2"]["power_w"] == -951.1

    dsmr = latest(api, customer, "dsmr-1")
    assert datetime.fromisoformat(dsmr["timestamp"]) == now
    assert dsmr["energy_kwh"] == pytest.approx(1234.567 + 2345.678)  # billing reads the total import register
    assert dsmr["registers"] == {"delivered_1": 1234.567, "delivered_2": 2345.678}
    assert dsmr["energy_export_kwh"] == pytest.approx(12.345)
    assert dsmr["power_w"] == pytest.approx(345.0)
    assert (dsmr["voltage"], dsmr["current"]) == (230.0, 1.0)
    assert dsmr["phases"] is None  # single phase: L1 is the reading's own values
    assert consumer.stats["power_only"] == 1
    assert DeadLetter.objects.count() == 0


def test_hostile_variants_are_dead_lettered_with_the_field_named_and_the_consumer_stays_up(
    mqtt_broker, consumer, meters, api, customer
):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    hostile = [
        ("tele/tasmota-1/SENSOR", {"Time": "2026-11-30T12:00:00", "ANALOG": {"A0": 12}}),
        ("tele/tasmota-1/SENSOR", tasmota_sensor(now, "12.3")),
        ("tele/tasmota-1/SENSOR", tasmota_sensor(now, 1.0, Power=5_000_000)),
        ("shelly/shelly-1/status/emdata:0", {**SHELLY_EMDATA, "total_act": 2.0e12}),
        ("shelly/shelly-1/status/emdata:0", {"id": 0, "total_act_ret": 0}),
        ("dsmr/dsmr-1/json", dsmr_telegram(now, electricity_currently_delivered="2500")),
        ("dsmr/dsmr-1/json", dsmr_telegram(now, electricity_delivered_1="abc")),
        ("tele/native-1/SENSOR", tasmota_sensor(now, 1.0)),
        ("tele/tasmota-1/SENSOR", b"\xff\xfe not json"),
    ]
    publish(mqtt_broker.url, hostile)
    wait_until(polled(lambda: DeadLetter.objects.count() == len(hostile)), timeout=15, message="every hostile message")
    details = {letter.detail for letter in DeadLetter.objects.all()}
    reasons = sorted(DeadLetter.objects.values_list("reason", flat=True))
    assert reasons == sorted(
        [
            "missing_field",
            "wrong_type",
            "out_of_range",
            "out_of_range",
            "missing_field",
            "out_of_range",
            "wrong_type",
            "wrong_format",
            "not_json",
        ]
    )
    for words in (
        "ENERGY is missing",
        "ENERGY.Total must be a number",
        "ENERGY.Power 5000000",
        "emdata:0.total_act 2000000000000.0 is outside",
        "emdata:0.total_act is missing",
        "electricity_currently_delivered '2500' is outside",
        "kW expected",
        "electricity_delivered_1 must be a decimal number",
        "set up for the native format",
    ):
        assert any(words in detail for detail in details), (words, details)

    # Still up: the next good message is stored.
    publish(mqtt_broker.url, [("tele/tasmota-1/SENSOR", tasmota_sensor(now, 12.5))])
    wait_until(polled(lambda: get_store().count() == 1), timeout=15, message="the good reading after the hostile ones")
    assert latest(api, customer, "tasmota-1")["energy_kwh"] == 12.5
