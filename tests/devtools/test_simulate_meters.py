"""Simulated meters publish telemetry the consumer accepts: a daily load curve, a register that only
grows, and a backfill that continues where the stored readings end."""

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from devices.identity import DSMR_READER, SHELLY_GEN2, TASMOTA
from devtools.simulation import SimulatedMeter, backfill_instants, daily_load_factor
from readings.ingestion.mqtt import BrokerSettings, InboundMessage, TelemetrySubscriber
from readings.ingestion.validation import DeviceInfo, parse_telemetry
from readings.stores import get_store
from readings.types import Reading
from tests.factories import DeviceFactory

KOLKATA = ZoneInfo("Asia/Kolkata")


def test_the_load_curve_peaks_in_the_evening_and_dips_at_night():
    assert daily_load_factor(20.0) > daily_load_factor(7.5) > daily_load_factor(13.0) > daily_load_factor(3.0)
    assert daily_load_factor(3.0) < 0.05


def test_a_day_of_readings_is_valid_with_a_register_that_only_grows():
    meter = SimulatedMeter.create("meter-sim", seed=7, register_kwh=1000.0)
    start = datetime(2025, 3, 1, tzinfo=KOLKATA)
    received = start + timedelta(days=1)
    registers, powers = [], {}
    for when in backfill_instants(start=start, end=received, step=timedelta(minutes=5)):
        body = meter.payload_at(when, KOLKATA)
        reading = parse_telemetry(
            topic="smartmeter/meter-sim/telemetry",
            payload=body,
            received_at=received,
            device_lookup=lambda device_id: DeviceInfo(device_id),
        )
        assert isinstance(reading, Reading), reading
        registers.append(reading.energy_kwh)
        powers.setdefault(when.astimezone(KOLKATA).hour, []).append(reading.power_w)

    assert len(registers) == 288
    assert registers == sorted(registers)
    used = registers[-1] - registers[0]
    assert 3 < used < 60  # a household's day, in kWh
    evening = sum(powers[20]) / len(powers[20])
    night = sum(powers[3]) / len(powers[3])
    assert evening > 2 * night


def test_the_same_seed_gives_the_same_telemetry():
    when = datetime(2025, 3, 1, 12, tzinfo=UTC)
    first = SimulatedMeter.create("m", seed=3).payload_at(when, KOLKATA)
    assert first == SimulatedMeter.create("m", seed=3).payload_at(when, KOLKATA)


def test_backfill_instants_sit_on_a_grid_and_stop_before_the_end():
    start = datetime(2025, 3, 1, 10, 2, 30, tzinfo=UTC)
    instants = list(backfill_instants(start=start, end=start + timedelta(minutes=20), step=timedelta(minutes=5)))
    assert [instant.strftime("%H:%M:%S") for instant in instants] == ["10:05:00", "10:10:00", "10:15:00", "10:20:00"]


class Capture:
    """A subscriber of our own that records what the simulator publishes."""

    def __init__(self, url: str, topic: str = "smartmeter/+/telemetry"):
        self.messages: list[InboundMessage] = []
        self.arrived = threading.Condition()
        self.subscriber = TelemetrySubscriber(
            BrokerSettings.from_url(url),
            client_id=f"sim-capture-{id(self)}",
            topic=topic,
            on_message=self._record,
            session_expiry=0,
            receive_maximum=1000,
        )

    def _record(self, message):
        self.subscriber.ack(message)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()

    def __enter__(self):
        self.subscriber.start()
        assert self.subscriber.wait_subscribed(10)
        return self

    def __exit__(self, *exc):
        self.subscriber.stop()

    def wait_for(self, count: int, *, prefix: str, timeout: float = 15) -> list[dict]:
        """Payloads of our meters (the machine's broker is shared) once `count` have arrived."""

        def ours():
            payloads = (json.loads(message.payload) for message in self.messages)
            return [payload for payload in payloads if payload.get("device_id", "").startswith(prefix)]

        with self.arrived:
            self.arrived.wait_for(lambda: len(ours()) >= count, timeout)
            return ours()

    def wait_for_topics(self, count: int, *, prefix: str, timeout: float = 15) -> list[tuple[str, dict]]:
        """(topic, payload) of messages on our meters' topics, whatever their format, once `count` have arrived."""

        def ours():
            return [
                (message.topic, json.loads(message.payload))
                for message in self.messages
                if f"/{prefix}-" in message.topic
            ]

        with self.arrived:
            self.arrived.wait_for(lambda: len(ours()) >= count, timeout)
            return ours()


@pytest.mark.broker
@pytest.mark.django_db
def test_simulate_meters_publishes_for_registered_meters_and_backfills_after_stored_readings(
    customer, mosquitto, settings
):
    settings.MQTT_URL = f"mqtt://{mosquitto[0]}:{mosquitto[1]}"
    prefix = f"sim{datetime.now(UTC):%H%M%S%f}"  # the machine's broker is shared: our own meter ids
    for number in (1, 2):
        DeviceFactory(device_id=f"{prefix}-{number}", owner=customer)
    now = datetime.now(UTC)
    newest = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) - timedelta(hours=2)
    get_store().write_many([Reading(f"{prefix}-1", newest, 230, 1, 230, 500.0, 0.9, -60)])

    with Capture(settings.MQTT_URL) as capture:
        call_command(
            "simulate_meters",
            "--devices",
            f"{prefix}-1,{prefix}-2",
            "--backfill-days",
            "0.25",
            "--backfill-interval",
            "900",
            "--rounds",
            "1",
            "--seed",
            "1",
        )
        published = capture.wait_for(8 + 1 + 24 + 1, prefix=prefix)

    first = [payload for payload in published if payload["device_id"] == f"{prefix}-1"]
    second = [payload for payload in published if payload["device_id"] == f"{prefix}-2"]
    # meter 1 continues after its stored reading (2 hours ago: 8 quarter-hours + 1 live); meter 2 gets 6 hours.
    assert len(first) == 8 + 1
    assert len(second) == 24 + 1
    assert datetime.fromisoformat(first[0]["timestamp"]) > newest
    assert first[0]["energy_kwh"] >= 500.0
    registers = [payload["energy_kwh"] for payload in first]
    assert registers == sorted(registers)


@pytest.mark.django_db
def test_simulate_meters_needs_meters_to_simulate():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("simulate_meters", "--rounds", "1")


@pytest.mark.broker
@pytest.mark.django_db
def test_simulate_meters_publishes_each_meter_in_its_own_format_with_timestamped_backfill(
    customer, mosquitto, settings
):
    settings.MQTT_URL = f"mqtt://{mosquitto[0]}:{mosquitto[1]}"
    settings.TASMOTA_TIME_ZONE = "Asia/Kolkata"
    prefix = f"simf{datetime.now(UTC):%H%M%S%f}"
    for payload_format in (TASMOTA, SHELLY_GEN2, DSMR_READER):
        DeviceFactory(device_id=f"{prefix}-{payload_format}", owner=customer, payload_format=payload_format)
    started = datetime.now(UTC)

    with Capture(settings.MQTT_URL, topic="#") as capture:
        call_command(
            "simulate_meters",
            "--devices",
            ",".join(f"{prefix}-{payload_format}" for payload_format in (TASMOTA, SHELLY_GEN2, DSMR_READER)),
            "--backfill-days",
            "0.25",
            "--backfill-interval",
            "900",
            "--rounds",
            "1",
            "--seed",
            "1",
        )
        published = capture.wait_for_topics(25 + 2 * 25 + 25, prefix=prefix)

    def on(topic_end):
        return [body for topic, body in published if topic.endswith(topic_end)]

    # Tasmota: 24 backfilled + 1 live on tele/<id>/SENSOR, local time without an offset.
    tasmota = on(f"{prefix}-{TASMOTA}/SENSOR")
    assert len(tasmota) == 25
    times = [datetime.fromisoformat(body["Time"]) for body in tasmota]
    assert all(moment.tzinfo is None for moment in times)
    instants = [moment.replace(tzinfo=KOLKATA) for moment in times]
    assert instants == sorted(instants)
    assert started - timedelta(hours=6, minutes=1) < instants[0] < started - timedelta(hours=5, minutes=44)
    totals = [body["ENERGY"]["Total"] for body in tasmota]
    assert totals == sorted(totals)

    # Shelly: backfill as NotifyStatus (em:0 and emdata:0) with ts; the live reading on the status topics.
    events = on(f"{prefix}-{SHELLY_GEN2}/events/rpc")
    assert len(events) == 2 * 24
    assert {body["method"] for body in events} == {"NotifyStatus"}
    assert sum("emdata:0" in body["params"] for body in events) == 24
    stamps = [body["params"]["ts"] for body in events if "em:0" in body["params"]]
    assert stamps == sorted(stamps)
    assert stamps[0] > (started - timedelta(hours=6, minutes=1)).timestamp()
    (power,) = on(f"{prefix}-{SHELLY_GEN2}/status/em:0")
    (energy,) = on(f"{prefix}-{SHELLY_GEN2}/status/emdata:0")
    assert "ts" not in energy
    assert energy["total_act"] >= events[-1]["params"]["emdata:0"]["total_act"]
    assert power["total_act_power"] > 0

    # dsmr-reader: 25 telegrams with local timestamps carrying their offset.
    dsmr = on(f"{prefix}-{DSMR_READER}/json")
    assert len(dsmr) == 25
    assert all(datetime.fromisoformat(body["timestamp"]).utcoffset() is not None for body in dsmr)
    assert all(Decimal(body["electricity_delivered_1"]) + Decimal(body["electricity_delivered_2"]) > 0 for body in dsmr)


@pytest.mark.django_db
def test_simulate_meters_refuses_a_format_the_meters_were_not_provisioned_in(customer):
    DeviceFactory(device_id="sim-plug-1", owner=customer, payload_format=TASMOTA)
    DeviceFactory(device_id="sim-native-1", owner=customer)

    with pytest.raises(CommandError, match=r"sim-native-1 \(native\)") as refused:
        call_command("simulate_meters", "--format", TASMOTA, "--devices", "sim-plug-1,sim-native-1", "--rounds", "1")
    assert "sim-plug-1" not in str(refused.value)
