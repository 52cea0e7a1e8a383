"""Telemetry validation: every rejection reason, aliases, timestamp forms, and a fuzz run
proving the parser returns a Reading or a Rejection for anything a broker can deliver."""

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readings.ingestion.validation import FIELDS, DeviceInfo, Reason, Rejection, parse_telemetry
from readings.types import Reading

NOW = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
TOPIC = "smartmeter/meter-001/telemetry"
DEVICES = {
    "meter-001": DeviceInfo("meter-001", location="Bengaluru"),
    "meter-002": DeviceInfo("meter-002"),
    "retired-9": DeviceInfo("retired-9", decommissioned=True),
}


def good_payload(**overrides) -> dict:
    payload = {
        "voltage": 231.4,
        "current": 4.2,
        "power_w": 912.0,
        "energy_kwh": 10234.512,
        "power_factor": 0.94,
        "rssi": -61,
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not DROP}


DROP = object()


def parse(payload, *, topic=TOPIC, received_at=NOW, devices=DEVICES, **limits):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_telemetry(topic=topic, payload=raw, received_at=received_at, device_lookup=devices.get, **limits)


def assert_rejected(result, reason: Reason, *words: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    for word in words:
        assert word in result.message, result.message
    return result


def test_a_complete_payload_becomes_a_reading_in_utc_with_the_meters_location():
    reading = parse(good_payload(timestamp="2025-03-01T15:15:00.5+05:30"))
    assert reading == Reading(
        device_id="meter-001",
        timestamp=datetime(2025, 3, 1, 9, 45, 0, 500000, tzinfo=UTC),
        voltage=231.4,
        current=4.2,
        power_w=912.0,
        energy_kwh=10234.512,
        power_factor=0.94,
        rssi=-61,
        location="Bengaluru",
    )
    assert reading.timestamp.utcoffset() == timedelta(0)


def test_without_a_timestamp_the_receive_time_is_used_to_the_millisecond():
    reading = parse(good_payload())
    assert reading.timestamp == datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)


def test_integers_are_accepted_for_every_field_and_stored_as_floats():
    reading = parse(good_payload(voltage=230, current=0, power_w=0, energy_kwh=5, power_factor=1, rssi=-70))
    assert isinstance(reading, Reading)
    assert reading.voltage == 230.0
    assert isinstance(reading.voltage, float)
    assert reading.rssi == -70
    assert isinstance(reading.rssi, int)


def test_short_aliases_power_energy_and_pf_are_accepted():
    payload = good_payload(power_w=DROP, energy_kwh=DROP, power_factor=DROP, power=450.5, energy=12.25, pf=0.8)
    reading = parse(payload)
    assert (reading.power_w, reading.energy_kwh, reading.power_factor) == (450.5, 12.25, 0.8)


def test_the_full_field_name_wins_over_its_alias():
    reading = parse(good_payload(power=1.0, energy=2.0, pf=0.1))
    assert (reading.power_w, reading.energy_kwh, reading.power_factor) == (912.0, 10234.512, 0.94)


def test_a_payload_device_id_equal_to_the_topic_is_accepted():
    assert isinstance(parse(good_payload(device_id="meter-001")), Reading)


def test_unknown_keys_are_ignored():
    assert isinstance(parse(good_payload(firmware="1.2.3", extra={"nested": [1, 2]})), Reading)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2025-03-01T09:30:00Z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00+00:00", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T15:00:00+05:30", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T04:30:00-05:00", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01 09:30:00.250+00:00", datetime(2025, 3, 1, 9, 30, 0, 250000, tzinfo=UTC)),
        ("2025-03-01T09:30:00.123456789Z"[:26] + "Z", datetime(2025, 3, 1, 9, 30, 0, 123000, tzinfo=UTC)),
        (1740821400, datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        (1740821400.75, datetime(2025, 3, 1, 9, 30, 0, 750000, tzinfo=UTC)),
        (None, datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_timestamp_forms_are_normalised_to_utc(timestamp, expected):
    reading = parse(good_payload(timestamp=timestamp))
    assert isinstance(reading, Reading), reading
    assert reading.timestamp == expected
    assert reading.timestamp.tzinfo is UTC


def test_a_timestamp_just_inside_both_limits_is_accepted():
    assert isinstance(parse(good_payload(timestamp=(NOW + timedelta(minutes=4, seconds=59)).isoformat())), Reading)
    assert isinstance(parse(good_payload(timestamp=(NOW - timedelta(days=34, hours=23)).timestamp())), Reading)


# --- every rejection reason ------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "smartmeter/meter-001/status",
        "smartmeter/meter-001",
        "smartmeter//telemetry",
        "smartmeter/meter 001/telemetry",
        "smartmeter/meter-001/telemetry/extra",
        "other/meter-001/telemetry",
        "smartmeter/" + "m" * 65 + "/telemetry",
        b"smartmeter/\xff\xfe/telemetry",
        "",
    ],
)
def test_a_topic_not_naming_one_meter_is_rejected_as_bad_topic(topic):
    result = parse(good_payload(), topic=topic)
    assert_rejected(result, Reason.BAD_TOPIC, "topic")
    assert result.device_id == ""


def test_payload_over_4_kib_is_rejected_as_oversize():
    padded = good_payload(note="x" * 4096)
    assert_rejected(parse(padded), Reason.OVERSIZE, "4096")
    exactly = json.dumps(good_payload(note="")).encode()
    exactly = exactly[:-1] + b', "pad": "' + b"y" * (4096 - len(exactly) - 11) + b'"}'
    assert len(exactly) == 4096
    assert isinstance(parse(exactly), Reading)


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"not json", b'{"voltage": 230', b"\xff\xfe\x00garbage", b"{'single': 'quotes'}", b"[1,]"],
)
def test_payload_that_is_not_json_is_rejected_as_not_json(raw):
    assert_rejected(parse(raw), Reason.NOT_JSON)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[1, 2]", "array"), (b"42", "number"), (b'"hi"', "string"), (b"null", "null"), (b"true", "boolean")],
)
def test_json_that_is_not_an_object_is_rejected_as_not_object(raw, kind):
    assert_rejected(parse(raw), Reason.NOT_OBJECT, kind)


@pytest.mark.parametrize("field", [spec.name for spec in FIELDS])
def test_each_required_field_missing_is_named(field):
    result = parse(good_payload(**{field: DROP}))
    assert_rejected(result, Reason.MISSING_FIELD, field)


def test_all_missing_fields_are_listed_together():
    assert_rejected(parse({}), Reason.MISSING_FIELD, "voltage", "current", "power_w (or power)", "rssi")


@pytest.mark.parametrize("value", ["230", True, False, None, [230], {"v": 230}])
def test_non_numeric_values_are_rejected_as_wrong_type(value):
    assert_rejected(parse(good_payload(voltage=value)), Reason.WRONG_TYPE, "voltage", "number")


def test_booleans_are_not_numbers_even_where_zero_or_one_is_in_range():
    assert_rejected(parse(good_payload(power_factor=True)), Reason.WRONG_TYPE, "power_factor")
    assert_rejected(parse(good_payload(current=False)), Reason.WRONG_TYPE, "current")


def test_rssi_must_be_a_whole_number():
    assert_rejected(parse(good_payload(rssi=-61.5)), Reason.WRONG_TYPE, "rssi", "whole")
    assert parse(good_payload(rssi=-61.0)).rssi == -61


def test_a_non_string_device_id_is_rejected_as_wrong_type():
    assert_rejected(parse(good_payload(device_id=1)), Reason.WRONG_TYPE, "device_id")


@pytest.mark.parametrize(
    ("timestamp", "words"),
    [
        ("yesterday", ["ISO 8601"]),
        ("2025-03-01T09:30:00", ["UTC offset"]),
        ("2025-03-01", ["UTC offset"]),
        (True, ["boolean"]),
        ([1740821400], ["array"]),
        ("x" * 500, ["ISO 8601"]),
    ],
)
def test_unusable_timestamps_are_rejected_as_wrong_type(timestamp, words):
    assert_rejected(parse(good_payload(timestamp=timestamp)), Reason.WRONG_TYPE, "timestamp", *words)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_nan_and_infinity_are_rejected_as_not_finite(literal):
    raw = json.dumps(good_payload(current=0)).replace('"current": 0', '"current": ' + literal.decode()).encode()
    assert_rejected(parse(raw), Reason.NOT_FINITE, "current")


def test_a_non_finite_epoch_timestamp_is_rejected_as_not_finite():
    raw = json.dumps(good_payload(timestamp=0)).replace('"timestamp": 0', '"timestamp": NaN').encode()
    assert_rejected(parse(raw), Reason.NOT_FINITE, "timestamp")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("voltage", -0.1),
        ("voltage", 500.01),
        ("current", -1),
        ("current", 200.5),
        ("power_w", -100_001),
        ("power_w", 1e6),
        ("energy_kwh", -0.001),
        ("energy_kwh", 1e10),
        ("power_factor", 1.01),
        ("power_factor", -1.5),
        ("rssi", 5),
        ("rssi", -131),
        ("voltage", 10**400),
    ],
)
def test_values_outside_physical_ranges_are_rejected_as_out_of_range(field, value):
    result = parse(good_payload(**{field: value}))
    assert_rejected(result, Reason.OUT_OF_RANGE, field, "outside")
    assert len(result.message) < 200


@pytest.mark.parametrize("field", [spec.name for spec in FIELDS])
def test_range_limits_themselves_are_accepted(field):
    spec = next(spec for spec in FIELDS if spec.name == field)
    for value in (spec.low, spec.high):
        reading = parse(good_payload(**{field: int(value) if spec.whole else value}))
        assert isinstance(reading, Reading), reading


def test_negative_power_is_export_and_accepted():
    assert parse(good_payload(power_w=-3500.0)).power_w == -3500.0


@pytest.mark.parametrize(
    "timestamp",
    [
        (NOW + timedelta(minutes=5, seconds=1)).isoformat(),
        "2025-03-01T15:36:00+05:30",
        (NOW + timedelta(minutes=6)).timestamp(),
        "9999-12-31T23:59:59-12:00",
        10**300,
    ],
)
def test_timestamps_more_than_5_minutes_ahead_are_rejected(timestamp):
    assert_rejected(parse(good_payload(timestamp=timestamp)), Reason.TIMESTAMP_FUTURE, "ahead")


def test_epoch_milliseconds_are_called_out():
    result = parse(good_payload(timestamp=int(NOW.timestamp() * 1000)))
    assert_rejected(result, Reason.TIMESTAMP_FUTURE, "milliseconds")


@pytest.mark.parametrize(
    "timestamp",
    [(NOW - timedelta(days=35, seconds=1)).isoformat(), 0, -1e300, "0001-01-01T00:00:00+14:00"],
)
def test_timestamps_older_than_the_backfill_window_are_rejected(timestamp):
    assert_rejected(parse(good_payload(timestamp=timestamp)), Reason.TIMESTAMP_TOO_OLD, "backfill window (35 days)")


def test_the_backfill_window_is_configurable():
    two_days_ago = (NOW - timedelta(days=2)).isoformat()
    assert isinstance(parse(good_payload(timestamp=two_days_ago)), Reading)
    assert_rejected(
        parse(good_payload(timestamp=two_days_ago), backfill=timedelta(days=1)), Reason.TIMESTAMP_TOO_OLD, "1 day"
    )


def test_an_unregistered_meter_is_rejected_as_unknown_device():
    result = parse(good_payload(), topic="smartmeter/meter-404/telemetry")
    assert_rejected(result, Reason.UNKNOWN_DEVICE, "meter-404")
    assert result.device_id == "meter-404"


def test_a_retired_meter_is_rejected_as_decommissioned_device():
    assert_rejected(parse(good_payload(), topic="smartmeter/retired-9/telemetry"), Reason.DECOMMISSIONED_DEVICE)


EXCHANGED_AT = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
EXCHANGED = {
    "swapped-3": DeviceInfo(
        "swapped-3", decommissioned=True, location="Mysuru", exchanged_at=EXCHANGED_AT, exchanged_for="meter-002"
    ),
}
SWAPPED_TOPIC = "smartmeter/swapped-3/telemetry"


def test_an_exchanged_meter_is_refused_from_the_exchange_instant_on_naming_the_new_meter():
    for when in ("2025-03-01T06:00:00Z", "2025-03-01T11:30:00.001+05:30", "2025-03-01T09:59:00Z"):
        result = parse(good_payload(timestamp=when), topic=SWAPPED_TOPIC, devices=EXCHANGED)
        assert_rejected(result, Reason.METER_EXCHANGED)
        assert result.message == (
            "meter 'swapped-3' was exchanged for 'meter-002' at 2025-03-01T06:00:00.000Z; readings after it are refused"
        )
        assert result.device_id == "swapped-3"
    # No timestamp: the receive time, after the exchange.
    assert_rejected(parse(good_payload(), topic=SWAPPED_TOPIC, devices=EXCHANGED), Reason.METER_EXCHANGED)


def test_an_exchanged_meters_readings_from_before_the_exchange_are_still_taken():
    """Telemetry the old meter buffered (or the broker queued) arrives after the swap; it is not lost."""
    reading = parse(good_payload(timestamp="2025-03-01T05:59:59.999Z"), topic=SWAPPED_TOPIC, devices=EXCHANGED)
    assert isinstance(reading, Reading), reading
    assert reading.timestamp == EXCHANGED_AT - timedelta(milliseconds=1)
    assert reading.location == "Mysuru"
    # The other checks still apply to them.
    too_old = parse(good_payload(timestamp="2025-01-01T00:00:00Z"), topic=SWAPPED_TOPIC, devices=EXCHANGED)
    assert_rejected(too_old, Reason.TIMESTAMP_TOO_OLD)


def test_a_payload_naming_another_meter_is_rejected_as_device_mismatch():
    result = parse(good_payload(device_id="meter-002"))
    assert_rejected(result, Reason.DEVICE_MISMATCH, "meter-002", "meter-001")
    assert result.device_id == "meter-001"


def test_every_reason_is_reachable():
    """Guards the list above: a new reason needs a test here too."""
    samples = {
        Reason.NOT_JSON: parse(b"nope"),
        Reason.NOT_OBJECT: parse(b"[]"),
        Reason.OVERSIZE: parse(b" " * 5000),
        Reason.MISSING_FIELD: parse({}),
        Reason.WRONG_TYPE: parse(good_payload(voltage="1")),
        Reason.NOT_FINITE: parse(
            b'{"voltage": NaN}'.replace(b"}", b', "current": 1, "power": 1, "energy": 1, "pf": 1, "rssi": -1}')
        ),
        Reason.OUT_OF_RANGE: parse(good_payload(voltage=9999)),
        Reason.TIMESTAMP_FUTURE: parse(good_payload(timestamp="2099-01-01T00:00:00Z")),
        Reason.TIMESTAMP_TOO_OLD: parse(good_payload(timestamp="2000-01-01T00:00:00Z")),
        Reason.UNKNOWN_DEVICE: parse(good_payload(), topic="smartmeter/x/telemetry"),
        Reason.DECOMMISSIONED_DEVICE: parse(good_payload(), topic="smartmeter/retired-9/telemetry"),
        Reason.METER_EXCHANGED: parse(good_payload(), topic=SWAPPED_TOPIC, devices=EXCHANGED),
        Reason.DEVICE_MISMATCH: parse(good_payload(device_id="x")),
        Reason.BAD_TOPIC: parse(good_payload(), topic="x"),
        Reason.WRONG_FORMAT: parse(good_payload(), topic="tele/meter-001/SENSOR"),
    }
    assert set(samples) == set(Reason)
    for reason, result in samples.items():
        assert_rejected(result, reason)


# --- fuzz ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=0, max_value=600).map(lambda digits: -(10**digits) if digits % 2 else 10**digits)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["voltage", "current", "power_w", "power", "energy_kwh", "energy", "power_factor", "pf", "rssi", "device_id"]
)
plausible_numbers = st.floats(min_value=-1000, max_value=1000) | st.integers(min_value=-200, max_value=600)
epoch_now = NOW.timestamp()
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]
)
timestamps = (
    st.datetimes(timezones=zones).map(lambda moment: moment.isoformat())
    | st.datetimes().map(lambda moment: moment.isoformat())
    | st.floats(min_value=epoch_now - 40 * 86400, max_value=epoch_now + 600)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | json_scalars
)


@st.composite
def telemetry_like(draw) -> bytes:
    payload = good_payload() if draw(st.booleans()) else {}
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        payload[draw(field_names)] = draw(plausible_numbers | json_scalars)
    if draw(st.booleans()):
        payload["timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        payload["extra"] = draw(json_values)
    return json.dumps(payload, allow_nan=True).encode()


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def noise(rng, size: int) -> bytes:
    return rng.randbytes(size)


payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(noise, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=6000)),
    st.text(max_size=100).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    json_values.map(lambda value: json.dumps(value, allow_nan=True).encode()),
    telemetry_like(),
    telemetry_like(),
    st.builds(nested, st.integers(min_value=1, max_value=5000), st.sampled_from(["array", "object"])),
    st.integers(min_value=3900, max_value=4200).map(lambda size: json.dumps(good_payload(pad="p" * size)).encode()),
)
topics = st.one_of(
    st.just(TOPIC),
    st.sampled_from(["smartmeter/meter-002/telemetry", "smartmeter/retired-9/telemetry", "smartmeter/ghost/telemetry"]),
    st.from_regex(r"smartmeter/[A-Za-z0-9_-]{1,70}/telemetry", fullmatch=True),
    st.text(max_size=80),
    st.binary(max_size=40),
)
received_times = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis attaches the zone
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=zones,
)


@pytest.mark.slow
@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(topic=topics, payload=payloads, received_at=received_times | st.just(NOW))
def test_fuzzed_messages_always_yield_a_reading_or_a_rejection(topic, payload, received_at):
    result = parse_telemetry(topic=topic, payload=payload, received_at=received_at, device_lookup=DEVICES.get)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, Reason)
        assert isinstance(result.message, str)
        assert 0 < len(result.message) <= 300
        return
    assert isinstance(result, Reading)
    assert result.device_id in DEVICES
    assert not DEVICES[result.device_id].decommissioned
    assert result.timestamp.tzinfo is UTC
    assert -timedelta(days=35) <= result.timestamp - received_at <= timedelta(minutes=5)
    for spec in FIELDS:
        value = getattr(result, spec.name)
        assert math.isfinite(value)
        assert spec.low <= value <= spec.high
    assert isinstance(result.rssi, int)


def test_offsets_in_fuzzed_receive_times_do_not_change_the_stored_instant():
    india = timezone(timedelta(hours=5, minutes=30))
    reading = parse(good_payload(), received_at=NOW.astimezone(india))
    assert reading.timestamp == datetime(2025, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
