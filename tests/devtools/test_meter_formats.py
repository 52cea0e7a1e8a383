"""Each format's encoder publishes what the real device would for one sample: its topics under the
configured prefixes, its units (Wh, kWh, kW), its clock (Tasmota local without offset) and its
tariff registers."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from devices.identity import DSMR_READER, NATIVE, PAYLOAD_FORMATS, SHELLY_GEN2, TASMOTA, TopicPrefixes
from devtools.meter_formats import EncodeOptions, MeterSample, meter_messages, phases_of
from devtools.simulation import SimulatedMeter, backfill_instants

KOLKATA = ZoneInfo("Asia/Kolkata")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
AT = datetime(2026, 11, 30, 8, 35, tzinfo=UTC)  # 14:05 in Kolkata, 09:35 in Amsterdam
SAMPLE = MeterSample(
    device_id="m-1",
    at=AT,
    power_w=1234.5,
    energy_kwh=4567.8912,
    voltage=231.4,
    power_factor=0.92,
    rssi=-61,
    night_kwh=1500.1234,
    today_kwh=3.21,
    yesterday_kwh=9.87,
    counting_since=datetime(2024, 5, 6, 1, 2, 3, tzinfo=UTC),
)
OPTIONS = EncodeOptions(
    prefixes=TopicPrefixes(tasmota="site/tele", shelly="site/shelly", dsmr="p1"),
    tasmota_zone=KOLKATA,
    dsmr_zone=AMSTERDAM,
)


def bodies(payload_format, *, sample=SAMPLE, options=OPTIONS, backfill=False):
    return [
        (topic, json.loads(payload))
        for topic, payload in meter_messages(sample, payload_format, options, backfill=backfill)
    ]


@pytest.mark.parametrize(
    ("payload_format", "backfill", "topics"),
    [
        (NATIVE, False, ["smartmeter/m-1/telemetry"]),
        (TASMOTA, False, ["site/tele/m-1/SENSOR"]),
        (TASMOTA, True, ["site/tele/m-1/SENSOR"]),
        (SHELLY_GEN2, False, ["site/shelly/m-1/status/em:0", "site/shelly/m-1/status/emdata:0"]),
        (SHELLY_GEN2, True, ["site/shelly/m-1/events/rpc", "site/shelly/m-1/events/rpc"]),
        (DSMR_READER, False, ["p1/m-1/json"]),
        (DSMR_READER, True, ["p1/m-1/json"]),
    ],
)
def test_each_format_publishes_on_its_own_topics_under_the_configured_prefix(payload_format, backfill, topics):
    assert [topic for topic, _ in bodies(payload_format, backfill=backfill)] == topics


@pytest.mark.parametrize(
    ("payload_format", "path", "expected"),
    [
        # native: the product's JSON, UTC with Z
        (NATIVE, ("timestamp",), "2026-11-30T08:35:00.000Z"),
        (NATIVE, ("energy_kwh",), 4567.8912),
        (NATIVE, ("power_w",), 1234.5),
        # Tasmota: local time in its zone, no offset; kWh, whole watts and volts
        (TASMOTA, ("Time",), "2026-11-30T14:05:00"),
        (TASMOTA, ("ENERGY", "TotalStartTime"), "2024-05-06T06:32:03"),
        (TASMOTA, ("ENERGY", "Total"), 4567.891),
        (TASMOTA, ("ENERGY", "Today"), 3.21),
        (TASMOTA, ("ENERGY", "Yesterday"), 9.87),
        (TASMOTA, ("ENERGY", "Power"), 1234),
        (TASMOTA, ("ENERGY", "Voltage"), 231),
        (TASMOTA, ("ENERGY", "Factor"), 0.92),
        (TASMOTA, ("ENERGY", "Current"), round(1234.5 / (231.4 * 0.92), 3)),
        # dsmr-reader: local time with offset, string decimals in kWh and kW
        (DSMR_READER, ("timestamp",), "2026-11-30T09:35:00+01:00"),
        (DSMR_READER, ("electricity_delivered_1",), "1500.123"),
        (DSMR_READER, ("electricity_delivered_2",), "3067.768"),
        (DSMR_READER, ("electricity_returned_1",), "0.000"),
        (DSMR_READER, ("electricity_currently_delivered",), "1.235"),
        (DSMR_READER, ("phase_currently_delivered_l1",), "1.235"),
        (DSMR_READER, ("phase_currently_delivered_l2",), None),
        (DSMR_READER, ("phase_voltage_l1",), "231.4"),
        (DSMR_READER, ("phase_power_current_l1",), 6),
    ],
)
def test_the_formats_carry_the_sample_in_their_own_units_and_clock(payload_format, path, expected):
    ((_, body),) = bodies(payload_format)
    for key in path:
        body = body[key]
    assert body == expected


def test_tasmota_time_has_no_offset_and_follows_its_zone():
    ((_, utc_body),) = bodies(TASMOTA, options=EncodeOptions(tasmota_zone=UTC))
    ((_, local_body),) = bodies(TASMOTA)
    assert utc_body["Time"] == "2026-11-30T08:35:00"
    assert datetime.fromisoformat(local_body["Time"]).tzinfo is None
    assert datetime.fromisoformat(local_body["Time"]).replace(tzinfo=KOLKATA) == AT


def test_tasmota_three_phase_reports_arrays_of_three_and_a_single_total():
    options = EncodeOptions(tasmota_zone=KOLKATA, tasmota_three_phase=True)
    ((_, body),) = bodies(TASMOTA, options=options)
    energy = body["ENERGY"]
    for key in ("Power", "ApparentPower", "ReactivePower", "Factor", "Voltage", "Current"):
        assert isinstance(energy[key], list), key
        assert len(energy[key]) == 3, key
    assert energy["Total"] == 4567.891
    assert abs(sum(energy["Power"]) - 1234.5) <= 1.5  # whole watts per phase


def test_shelly_reports_watts_per_phase_and_energy_in_watt_hours():
    (_, em), (_, emdata) = bodies(SHELLY_GEN2)
    assert emdata["total_act"] == 4567891.2  # kWh * 1000
    assert emdata["total_act_ret"] == 0
    phase_wh = [emdata[f"{letter}_total_act_energy"] for letter in "abc"]
    assert Decimal(str(sum(Decimal(str(wh)) for wh in phase_wh))) == Decimal("4567891.2")
    assert em["total_act_power"] == 1234.5
    assert sum(em[f"{letter}_act_power"] for letter in "abc") == pytest.approx(1234.5, abs=0.15)
    assert em["a_freq"] == 50
    assert em["n_current"] is None
    assert em["user_calibrated_phase"] == []
    assert "ts" not in em  # status topics carry no time
    assert "ts" not in emdata


def test_shelly_backfill_uses_notify_status_with_the_instant_for_both_components():
    (_, power), (_, energy) = bodies(SHELLY_GEN2, backfill=True)
    assert power["method"] == energy["method"] == "NotifyStatus"
    assert power["src"] == "shellypro3em-m-1"
    assert power["dst"] == "site/shelly/m-1/events"
    assert power["params"]["ts"] == energy["params"]["ts"] == AT.timestamp()
    assert power["params"]["em:0"]["total_act_power"] == 1234.5
    assert energy["params"]["emdata:0"]["total_act"] == 4567891.2


def test_the_phases_add_up_to_the_sample():
    assert sum(phase.power_w for phase in phases_of(SAMPLE)) == pytest.approx(SAMPLE.power_w)


def test_dsmr_tariff_registers_add_up_to_the_register():
    ((_, body),) = bodies(DSMR_READER)
    total = Decimal(body["electricity_delivered_1"]) + Decimal(body["electricity_delivered_2"])
    assert total == Decimal("4567.891")


def test_a_simulated_day_counts_night_energy_at_tariff_1_and_day_energy_at_tariff_2():
    meter = SimulatedMeter.create("meter-dsmr", seed=5, register_kwh=1000.0)
    options = EncodeOptions(dsmr_zone=KOLKATA)
    start = datetime(2025, 3, 1, 12, tzinfo=KOLKATA)
    previous = None
    for when in backfill_instants(start=start, end=start + timedelta(days=1), step=timedelta(minutes=15)):
        ((_, payload),) = meter.messages_at(when, KOLKATA, DSMR_READER, options)
        body = json.loads(payload)
        registers = Decimal(body["electricity_delivered_1"]), Decimal(body["electricity_delivered_2"])
        assert abs(sum(registers) - Decimal(f"{meter.register_kwh:.3f}")) <= Decimal("0.001")
        if previous is not None:
            night = 23 <= when.hour or when.hour < 7
            grown_1, grown_2 = registers[0] > previous[0], registers[1] > previous[1]
            assert (grown_1, grown_2) == ((True, False) if night else (False, True)), when
        previous = registers


def test_tasmota_today_restarts_at_local_midnight_and_yesterday_keeps_the_day():
    meter = SimulatedMeter.create("meter-tasmota", seed=5, register_kwh=1000.0)
    options = EncodeOptions(tasmota_zone=KOLKATA)
    start = datetime(2025, 3, 1, 0, 0, tzinfo=KOLKATA)
    todays = {}
    for when in backfill_instants(start=start, end=start + timedelta(days=2), step=timedelta(hours=1)):
        ((_, payload),) = meter.messages_at(when, KOLKATA, TASMOTA, options)
        energy = json.loads(payload)["ENERGY"]
        todays[when.astimezone(KOLKATA).strftime("%d %H")] = (energy["Today"], energy["Yesterday"])
    assert todays["01 00"] == (0, 0)
    assert todays["01 23"][1] == 0
    today, yesterday = todays["02 00"]
    assert today == 0
    assert todays["01 23"][0] < yesterday < todays["01 23"][0] + 5  # the 1st's last hour counts for the 1st
    assert todays["02 23"][1] == yesterday


@pytest.mark.parametrize("payload_format", PAYLOAD_FORMATS)
def test_every_format_encodes_a_simulated_sample(payload_format):
    meter = SimulatedMeter.create("meter-any", seed=1)
    messages = meter.messages_at(AT, KOLKATA, payload_format, OPTIONS, backfill=True)
    assert messages
    assert all(isinstance(topic, str) and json.loads(payload) for topic, payload in messages)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown payload format"):
        meter_messages(SAMPLE, "modbus")
