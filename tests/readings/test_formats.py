"""Device payload formats through parse_telemetry, built from each format's documented sample:
what a message becomes (Reading, PowerSample, Ignored), what is refused and why, topic routing
and the meter's format check; and the join of a Shelly's power and register messages. Pure:
no database, no broker."""

import copy
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.identity import DSMR_READER, NATIVE, SHELLY_GEN2, TASMOTA, TopicPrefixes
from readings.ingestion.joins import PowerJoin
from readings.ingestion.validation import DeviceInfo, Ignored, Reason, Rejection, parse_telemetry
from readings.types import Phase, PowerSample, Reading
from tests.readings.format_samples import DSMR

NOW = datetime(2024, 1, 31, 17, 5, 30, tzinfo=UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")
DEVICES = {
    "meter-001": DeviceInfo("meter-001", payload_format=NATIVE),
    "plug-7": DeviceInfo("plug-7", payload_format=TASMOTA),
    "pro3em-1": DeviceInfo("pro3em-1", payload_format=SHELLY_GEN2),
    "p1-home": DeviceInfo("p1-home", payload_format=DSMR_READER),
}
TASMOTA_TOPIC = "tele/plug-7/SENSOR"
SHELLY = "shelly/pro3em-1"
DSMR_TOPIC = "dsmr/p1-home/json"
DROP = object()  # as a value in `changed`: remove the key


def parse(topic: str, payload, *, received_at: datetime = NOW, **options):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_telemetry(
        topic=topic,
        payload=raw,
        received_at=received_at,
        device_lookup=DEVICES.get,
        local_zone=KOLKATA,
        **options,
    )


def changed(sample: dict, **paths) -> dict:
    """A copy of `sample` with nested keys set: ``ENERGY__Total=0`` sets ENERGY.Total (DROP removes it)."""
    document = copy.deepcopy(sample)
    for path, value in paths.items():
        *parents, key = path.split("__")
        target = document
        for parent in parents:
            target = target[parent]
        if value is DROP:
            del target[key]
        else:
            target[key] = value
    return document


def rounded(phases: tuple[Phase, ...]) -> dict:
    return {phase.name: {key: round(value, 6) for key, value in phase.as_dict().items()} for phase in phases}


def assert_parsed(result, kind: type, expected: dict) -> None:
    assert isinstance(result, kind), result
    for name, want in expected.items():
        got = getattr(result, name)
        if name == "phases":
            assert rounded(got) == want, name
        elif name == "registers":
            assert [key for key, _ in got] == [key for key, _ in want], name
            assert [value for _, value in got] == pytest.approx([value for _, value in want]), name
        elif isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, name


# --- Tasmota -------------------------------------------------------------------------------
# Tasmota docs, "Energy Monitoring" / MQTT: tele/%topic%/SENSOR every TelePeriod, e.g.
#   {"Time":"2019-10-19T17:03:36","ENERGY":{"TotalStartTime":"2019-10-19T17:02:21","Total":0.001,
#    "Yesterday":0.000,"Today":0.001,"Period":0,"Power":18,"ApparentPower":25,"ReactivePower":17,
#    "Factor":0.73,"Voltage":231,"Current":0.108}}
# Dated near the test's receive time; Total raised to a register's size.
TASMOTA = {
    "Time": "2024-01-31T18:05:00",
    "ENERGY": {
        "TotalStartTime": "2023-10-19T17:02:21",
        "Total": 1234.567,
        "Yesterday": 3.2,
        "Today": 1.001,
        "Period": 0,
        "Power": 18,
        "ApparentPower": 25,
        "ReactivePower": 17,
        "Factor": 0.73,
        "Voltage": 231,
        "Current": 0.108,
    },
}
# Multi-channel monitors (Shelly 2.5, PZEM on several channels) send one value per channel.
TASMOTA_2CH = changed(
    TASMOTA,
    ENERGY__Total=0.203,
    ENERGY__Period=[0, 0],
    ENERGY__Power=[23.63, 67.17],
    ENERGY__ApparentPower=[30.0, 70.0],
    ENERGY__ReactivePower=[18.0, 20.0],
    ENERGY__Factor=[0.79, 0.96],
    ENERGY__Voltage=230,
    ENERGY__Current=[0.124, 0.345],
)

TASMOTA_ACCEPTED = [
    pytest.param(
        TASMOTA,
        {
            "energy_kwh": 1234.567,
            "power_w": 18.0,
            "voltage": 231.0,
            "current": 0.108,
            "power_factor": 0.73,
            "rssi": None,
            "energy_export_kwh": None,
            "phases": {},
            # No offset in Time: the device's local time, Asia/Kolkata (+05:30).
            "timestamp": datetime(2024, 1, 31, 12, 35, tzinfo=UTC),
        },
        id="documented-single-channel-sample",
    ),
    pytest.param(
        TASMOTA_2CH,
        {
            "energy_kwh": 0.203,
            "power_w": 90.8,
            "voltage": 230.0,
            "current": 0.469,
            "power_factor": 90.8 / 100.0,  # active over apparent, summed over channels
            "phases": {
                "CH1": {"voltage": 230.0, "current": 0.124, "power_w": 23.63, "power_factor": 0.79},
                "CH2": {"voltage": 230.0, "current": 0.345, "power_w": 67.17, "power_factor": 0.96},
            },
        },
        id="two-channels-summed-voltage-shared",
    ),
    pytest.param(
        changed(
            TASMOTA,
            ENERGY__Power=[100, 200, 300],
            ENERGY__Voltage=[230, 231, 232],
            ENERGY__Current=[1, 2, 3],
            ENERGY__Factor=DROP,
            ENERGY__ApparentPower=DROP,
        ),
        {
            "power_w": 600.0,
            "voltage": 231.0,
            "current": 6.0,
            "power_factor": None,
            "phases": {
                "L1": {"voltage": 230.0, "current": 1.0, "power_w": 100.0},
                "L2": {"voltage": 231.0, "current": 2.0, "power_w": 200.0},
                "L3": {"voltage": 232.0, "current": 3.0, "power_w": 300.0},
            },
        },
        id="three-values-are-phases-L1-L3",
    ),
    pytest.param(
        changed(TASMOTA_2CH, ENERGY__Total=[1.5, 2.25]),
        {"energy_kwh": 3.75},
        id="total-as-array-summed",
    ),
    pytest.param(
        changed(TASMOTA, ENERGY__ExportActive=12.5),
        {"energy_kwh": 1234.567, "energy_export_kwh": 12.5},
        id="export-active-is-the-export-register",
    ),
    pytest.param(
        changed(TASMOTA, Time="1970-01-01T00:05:12"),
        {"timestamp": NOW},
        id="clock-not-set-takes-receive-time",
    ),
    pytest.param(
        changed(TASMOTA, Time=DROP),
        {"timestamp": NOW},
        id="no-time-takes-receive-time",
    ),
    # Tasmota docs, "EnergyReset3 0" / "EnergyTotal 0": Total starts again from zero. Stored as
    # it is: readings.quality recognises the reset and counts energy from the new zero.
    pytest.param(
        changed(TASMOTA, ENERGY__Total=0, ENERGY__Today=0, ENERGY__Yesterday=0),
        {"energy_kwh": 0.0, "power_w": 18.0},
        id="energy-reset-is-a-reading-at-zero",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), TASMOTA_ACCEPTED)
def test_tasmota_sensor_messages_become_readings(payload, expected):
    assert_parsed(parse(TASMOTA_TOPIC, payload), Reading, expected)


# --- Shelly Gen2 ---------------------------------------------------------------------------
# Shelly Gen2 API docs, EM component, EM.GetStatus (Pro 3EM): field names as documented
# (a_/b_/c_ current, voltage, act_power, aprt_power, pf, freq; n_current; total_*); values
# chosen for the test.
SHELLY_EM = {
    "id": 0,
    "a_current": 4.029,
    "a_voltage": 236.1,
    "a_act_power": 951.2,
    "a_aprt_power": 951.9,
    "a_pf": 1,
    "a_freq": 50,
    "b_current": 4.027,
    "b_voltage": 236.2,
    "b_act_power": -951.1,
    "b_aprt_power": 951.9,
    "b_pf": -1,
    "b_freq": 50,
    "c_current": 3.03,
    "c_voltage": 236.3,
    "c_act_power": 715.1,
    "c_aprt_power": 716.1,
    "c_pf": 1,
    "c_freq": 50,
    "n_current": None,
    "total_current": 11.086,
    "total_act_power": 715.2,
    "total_aprt_power": 2619.9,
    "user_calibrated_phase": [],
}
# EMData.GetStatus: per-phase and total registers in Wh.
SHELLY_EMDATA = {
    "id": 0,
    "a_total_act_energy": 2776.21,
    "a_total_act_ret_energy": 0,
    "b_total_act_energy": 0,
    "b_total_act_ret_energy": 1205.3,
    "c_total_act_energy": 0,
    "c_total_act_ret_energy": 0,
    "total_act": 2776.21,
    "total_act_ret": 1205.3,
}
# EM1.GetStatus / EM1Data.GetStatus: the single-channel Pro EM.
SHELLY_EM1 = {
    "id": 0,
    "current": 2.598,
    "voltage": 234.9,
    "act_power": 501.8,
    "aprt_power": 612.4,
    "pf": 0.84,
    "freq": 50,
    "calibration": "factory",
}
SHELLY_EM1DATA = {"id": 0, "total_act_energy": 3012.1, "total_act_ret_energy": 0}
TS = 1706720700.25  # 2024-01-31T17:05:00.25Z


def notify(method: str = "NotifyStatus", **components) -> dict:
    """Shelly Gen2 API docs, "Notifications" (sent on <prefix>/events/rpc with RPC status
    notifications on): {"src":..., "dst":..., "method":"NotifyStatus","params":{"ts":...,<component>:{...}}}."""
    params = {"ts": TS, **{key.replace("_", ":"): value for key, value in components.items()}}
    return {"src": "shellypro3em-c8f09e8a1b2c", "dst": f"{SHELLY}/events", "method": method, "params": params}


AT_TS = datetime(2024, 1, 31, 17, 5, 0, 250000, tzinfo=UTC)
EM_POWER = {
    "power_w": 715.2,
    "current": 11.086,
    "voltage": 236.2,
    "power_factor": 715.2 / 2619.9,  # active over apparent
    "phases": {
        "L1": {"voltage": 236.1, "current": 4.029, "power_w": 951.2, "power_factor": 1.0},
        "L2": {"voltage": 236.2, "current": 4.027, "power_w": -951.1, "power_factor": -1.0},
        "L3": {"voltage": 236.3, "current": 3.03, "power_w": 715.1, "power_factor": 1.0},
    },
}

SHELLY_ACCEPTED = [
    pytest.param("status/em:0", SHELLY_EM, PowerSample, EM_POWER | {"timestamp": NOW}, id="em-status-power-sample"),
    pytest.param(
        "status/emdata:0",
        SHELLY_EMDATA,
        Reading,
        {"energy_kwh": 2.77621, "energy_export_kwh": 1.2053, "power_w": None, "phases": {}, "timestamp": NOW},
        id="emdata-status-register-reading-in-kwh",
    ),
    pytest.param(
        "status/em1:0",
        SHELLY_EM1,
        PowerSample,
        {"power_w": 501.8, "voltage": 234.9, "current": 2.598, "power_factor": 0.84},
        id="pro-em-em1-power-sample",
    ),
    pytest.param(
        "status/em1data:0",
        SHELLY_EM1DATA,
        Reading,
        {"energy_kwh": 3.0121, "energy_export_kwh": 0.0, "power_w": None},
        id="pro-em-em1data-register-reading",
    ),
    pytest.param(
        "events/rpc",
        notify(emdata_0=SHELLY_EMDATA),
        Reading,
        {"energy_kwh": 2.77621, "timestamp": AT_TS, "power_w": None},
        id="notify-status-emdata-at-device-ts",
    ),
    pytest.param(
        "events/rpc",
        notify(em_0=SHELLY_EM),
        PowerSample,
        EM_POWER | {"timestamp": AT_TS},
        id="notify-status-em-full-power",
    ),
    pytest.param(
        "events/rpc",
        notify("NotifyFullStatus", em_0=SHELLY_EM, emdata_0=SHELLY_EMDATA, sys={"uptime": 3600}),
        Reading,
        EM_POWER | {"energy_kwh": 2.77621, "energy_export_kwh": 1.2053, "timestamp": AT_TS},
        id="notify-full-status-power-joined-to-register",
    ),
    pytest.param(
        "events/rpc",
        notify(em_0={"id": 0, "total_act_power": 800.5}, emdata_0={"id": 0, "a_total_act_energy": 2777.0}),
        PowerSample,
        {"power_w": 800.5, "timestamp": AT_TS},
        id="notify-status-power-with-register-delta-keeps-the-power",
    ),
]


@pytest.mark.parametrize(("rest", "payload", "kind", "expected"), SHELLY_ACCEPTED)
def test_shelly_messages_become_power_samples_or_register_readings(rest, payload, kind, expected):
    assert_parsed(parse(f"{SHELLY}/{rest}", payload), kind, expected)


SHELLY_IGNORED = [
    pytest.param(notify(em_0={"id": 0, "a_current": 4.1, "a_act_power": 960.0}), "total_act_power", id="em-delta"),
    pytest.param(notify(emdata_0={"id": 0, "a_total_act_energy": 2777.0}), "total_act", id="emdata-delta"),
    pytest.param(notify(sys={"id": 0, "uptime": 3601}), "another component", id="other-component"),
    pytest.param(
        {"src": "shellypro3em-c8f09e8a1b2c", "method": "NotifyEvent", "params": {"ts": TS, "events": []}},
        "NotifyEvent",
        id="notify-event",
    ),
]


@pytest.mark.parametrize(("payload", "why"), SHELLY_IGNORED)
def test_shelly_notifications_without_power_or_register_are_ignored(payload, why):
    result = parse(f"{SHELLY}/events/rpc", payload)
    assert isinstance(result, Ignored), result
    assert result.device_id == "pro3em-1"
    assert why in result.why


DSMR_THREE_PHASE = changed(
    DSMR,
    electricity_currently_delivered="2.000",
    electricity_currently_returned="0.500",
    phase_currently_delivered_l1="1.000",
    phase_currently_delivered_l2="1.000",
    phase_currently_delivered_l3="0.000",
    phase_currently_returned_l3="0.500",
    phase_voltage_l2="231.0",
    phase_voltage_l3="232.0",
    phase_power_current_l2=4,
    phase_power_current_l3=2,
)

DSMR_ACCEPTED = [
    pytest.param(
        DSMR,
        {
            "energy_kwh": 1234.567 + 2345.678,
            "registers": (("delivered_1", 1234.567), ("delivered_2", 2345.678)),
            "energy_export_kwh": 12.345,
            "power_w": 345.0,
            "voltage": 230.0,
            "current": 1.0,
            "power_factor": None,
            "rssi": None,
            "phases": {},  # single phase: L1 is the reading's own voltage, current and power
            "timestamp": datetime(2024, 1, 31, 17, 5, tzinfo=UTC),
        },
        id="documented-sample",
    ),
    pytest.param(
        changed(
            DSMR, electricity_delivered_1=1234.567, electricity_delivered_2=2345, electricity_currently_delivered=1
        ),
        {"energy_kwh": 3579.567, "power_w": 1000.0},
        id="json-numbers-accepted",
    ),
    pytest.param(
        DSMR_THREE_PHASE,
        {
            "power_w": 1500.0,  # delivered minus returned, kW to W
            "voltage": 231.0,
            "current": 7.0,
            "phases": {
                "L1": {"voltage": 230.0, "current": 1.0, "power_w": 1000.0},
                "L2": {"voltage": 231.0, "current": 4.0, "power_w": 1000.0},
                "L3": {"voltage": 232.0, "current": 2.0, "power_w": -500.0},
            },
        },
        id="three-phases-net-power",
    ),
    pytest.param(
        changed(DSMR, electricity_delivered_2=None, electricity_returned_1=None, electricity_returned_2=None),
        {"energy_kwh": 1234.567, "registers": (), "energy_export_kwh": None},
        id="single-register-meter",
    ),
    pytest.param(changed(DSMR, timestamp=DROP), {"timestamp": NOW}, id="no-timestamp-takes-receive-time"),
]


@pytest.mark.parametrize(("payload", "expected"), DSMR_ACCEPTED)
def test_dsmr_reader_telegrams_become_readings(payload, expected):
    result = parse(DSMR_TOPIC, payload)
    assert_parsed(result, Reading, expected)


# --- Refused messages, every format --------------------------------------------------------
def refused(name: str, topic: str, payload, reason: Reason, *words: str):
    """A row: the message on `topic` is refused for `reason`, its message naming each of `words`."""
    return pytest.param(topic, payload, reason, words, id=name)


R = Reason
TASMOTA_T, DSMR_T = TASMOTA_TOPIC, DSMR_TOPIC
EM_T, EM1_T, EMDATA_T, RPC_T = (
    f"{SHELLY}/{rest}" for rest in ("status/em:0", "status/em1:0", "status/emdata:0", "events/rpc")
)
TASMOTA_NOT_ENERGY = {"Time": "2024-01-31T18:05:00", "ANALOG": {"A0": 512}}


def tasmota(**paths):
    return changed(TASMOTA, **paths)


def em(**paths):
    return changed(SHELLY_EM, **paths)


def em1(**paths):
    return changed(SHELLY_EM1, **paths)


def emdata(**paths):
    return changed(SHELLY_EMDATA, **paths)


def notified(**paths):
    return changed(notify(emdata_0=SHELLY_EMDATA), **paths)


def dsmr(**paths):
    return changed(DSMR, **paths)


REFUSED = [
    # Tasmota
    refused("tasmota-no-energy-object", TASMOTA_T, TASMOTA_NOT_ENERGY, R.MISSING_FIELD, "ENERGY"),
    refused("tasmota-energy-not-object", TASMOTA_T, tasmota(ENERGY=[1, 2]), R.WRONG_TYPE, "ENERGY"),
    refused("tasmota-total-missing", TASMOTA_T, tasmota(ENERGY__Total=DROP), R.MISSING_FIELD, "ENERGY.Total"),
    # A null Total must not become a 0 kWh register (it would read as a reset).
    refused("tasmota-total-null", TASMOTA_T, tasmota(ENERGY__Total=None), R.MISSING_FIELD, "ENERGY.Total"),
    refused("tasmota-power-null", TASMOTA_T, tasmota(ENERGY__Power=None), R.MISSING_FIELD, "ENERGY.Power"),
    refused("tasmota-total-as-text", TASMOTA_T, tasmota(ENERGY__Total="12.3"), R.WRONG_TYPE, "ENERGY.Total"),
    refused("tasmota-power-5MW", TASMOTA_T, tasmota(ENERGY__Power=5e6), R.OUT_OF_RANGE, "W expected"),
    refused("tasmota-9-channels", TASMOTA_T, tasmota(ENERGY__Power=[1.0] * 9), R.WRONG_TYPE, "1 to 8"),
    refused("tasmota-0-channels", TASMOTA_T, tasmota(ENERGY__Power=[]), R.WRONG_TYPE, "ENERGY.Power"),
    refused("tasmota-bad-channel", TASMOTA_T, tasmota(ENERGY__Voltage=[230, "x"]), R.WRONG_TYPE, "[1]"),
    refused("tasmota-time-garbage", TASMOTA_T, tasmota(Time="noon"), R.WRONG_TYPE, "Time 'noon'"),
    refused("tasmota-time-a-number", TASMOTA_T, tasmota(Time=1706720700), R.WRONG_TYPE, "Time"),
    # 23:35:30 in Asia/Kolkata is 18:05:30Z, an hour after the receive time.
    refused("tasmota-time-1h-ahead", TASMOTA_T, tasmota(Time="2024-01-31T23:35:30"), R.TIMESTAMP_FUTURE, "zone"),
    refused("tasmota-time-too-old", TASMOTA_T, tasmota(Time="2023-11-01T10:00:00"), R.TIMESTAMP_TOO_OLD, "backfill"),
    # Shelly Gen2
    refused("shelly-no-total-act", EMDATA_T, emdata(total_act=DROP), R.MISSING_FIELD, "emdata:0.total_act"),
    refused("shelly-total-act-text", EMDATA_T, emdata(total_act="2776.21"), R.WRONG_TYPE, "total_act"),
    refused("shelly-total-act-2e12", EMDATA_T, emdata(total_act=2e12), R.OUT_OF_RANGE, "Wh expected"),
    refused("shelly-no-power", EM_T, em(total_act_power=DROP), R.MISSING_FIELD, "em:0.total_act_power"),
    refused("shelly-bool-volts", EM_T, em(a_voltage=True), R.WRONG_TYPE, "em:0.a_voltage"),
    refused("shelly-em1-no-power", EM1_T, em1(act_power=DROP), R.MISSING_FIELD, "em1:0.act_power"),
    refused("shelly-params-array", RPC_T, notify() | {"params": [1, 2]}, R.WRONG_TYPE, "params must be an object"),
    refused("shelly-component-text", RPC_T, notify(emdata_0="2776.21"), R.WRONG_TYPE, "params.emdata:0"),
    refused("shelly-ts-text", RPC_T, notified(params__ts="1706720700"), R.WRONG_TYPE, "params.ts"),
    refused("shelly-ts-millis", RPC_T, notified(params__ts=TS * 1000), R.OUT_OF_RANGE, "params.ts"),
    refused("shelly-sys-topic", f"{SHELLY}/status/sys", {"id": 0, "uptime": 3600}, R.BAD_TOPIC, "status/sys"),
    # dsmr-reader
    refused("dsmr-register-abc", DSMR_T, dsmr(electricity_delivered_1="abc"), R.WRONG_TYPE, "electricity_delivered_1"),
    refused("dsmr-register-missing", DSMR_T, dsmr(electricity_delivered_1=DROP), R.MISSING_FIELD, "delivered_1"),
    refused("dsmr-register-null", DSMR_T, dsmr(electricity_delivered_1=None), R.MISSING_FIELD, "delivered_1"),
    refused("dsmr-register-array", DSMR_T, dsmr(electricity_delivered_2=[1.0]), R.WRONG_TYPE, "delivered_2"),
    # "2500" kW is 2.5 MW: a reader set to W.
    refused("dsmr-power-in-watts", DSMR_T, dsmr(electricity_currently_delivered="2500"), R.OUT_OF_RANGE, "kW expected"),
    refused("dsmr-no-offset", DSMR_T, dsmr(timestamp="2024-01-31T18:05:00"), R.WRONG_TYPE, "no UTC offset"),
    # Across formats: the meter's configured format decides, and the topic must agree with it.
    refused("tasmota-meter-native-topic", "smartmeter/plug-7/telemetry", TASMOTA, R.WRONG_FORMAT, "plug-7", "tasmota"),
    refused("native-meter-tasmota-topic", "tele/meter-001/SENSOR", TASMOTA, R.WRONG_FORMAT, "meter-001", "native"),
    refused("shelly-meter-dsmr-topic", "dsmr/pro3em-1/json", DSMR, R.WRONG_FORMAT, "shelly-gen2", "dsmr-reader"),
    refused("tasmota-state-topic", "tele/plug-7/STATE", {"Time": "2024-01-31T18:05:00"}, R.BAD_TOPIC, "STATE"),
    refused("unregistered-meter", "tele/unknown-9/SENSOR", TASMOTA, R.UNKNOWN_DEVICE, "unknown-9"),
    refused("payload-an-array", TASMOTA_T, [TASMOTA], R.NOT_OBJECT, "array"),
]


@pytest.mark.parametrize(("topic", "payload", "reason", "words"), REFUSED)
def test_refused_messages_name_the_field_and_stay_short(topic, payload, reason, words):
    result = parse(topic, payload)
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    for word in words:
        assert word in result.message, result.message
    assert len(result.message) <= 300, result.message


# --- Topic prefixes ------------------------------------------------------------------------
HOME = TopicPrefixes(tasmota="home/tele", shelly="home/shelly", dsmr="home/p1")


@pytest.mark.parametrize(
    ("topic", "payload", "kind"),
    [
        pytest.param("home/tele/plug-7/SENSOR", TASMOTA, Reading, id="tasmota"),
        pytest.param("home/shelly/pro3em-1/status/em:0", SHELLY_EM, PowerSample, id="shelly"),
        pytest.param("home/p1/p1-home/json", DSMR, Reading, id="dsmr"),
        pytest.param("smartmeter/plug-7/telemetry", TASMOTA, Rejection, id="native-layout-unchanged"),
    ],
)
def test_configured_prefixes_route_each_format(topic, payload, kind):
    result = parse(topic, payload, prefixes=HOME)
    assert isinstance(result, kind), result


@pytest.mark.parametrize("topic", ["tele/plug-7/SENSOR", "shelly/pro3em-1/status/em:0", "dsmr/p1-home/json"])
def test_default_prefixes_no_longer_route_once_configured_otherwise(topic):
    result = parse(topic, {}, prefixes=HOME)
    assert isinstance(result, Rejection)
    assert result.reason == Reason.BAD_TOPIC


# --- Joining a Shelly's power to its register readings -------------------------------------
T0 = datetime(2024, 1, 31, 17, 0, tzinfo=UTC)
L1 = (Phase("L1", voltage=231.0, current=2.0, power_w=450.0),)


def sample(at: datetime, power_w: float = 450.0, device_id: str = "pro3em-1") -> PowerSample:
    return PowerSample(device_id, at, power_w, voltage=231.0, current=2.0, power_factor=0.97, phases=L1)


def register(at: datetime, energy_kwh: float = 2.77621, export: float | None = 1.2053, **fields) -> Reading:
    values = {"voltage": None, "current": None, "power_w": None, "power_factor": None, "rssi": None} | fields
    return Reading(device_id="pro3em-1", timestamp=at, energy_kwh=energy_kwh, energy_export_kwh=export, **values)


@pytest.mark.parametrize(
    ("sample_at", "joined"),
    [
        pytest.param(T0 - timedelta(seconds=60), True, id="sample-60s-before"),
        pytest.param(T0 + timedelta(seconds=30), True, id="sample-30s-after"),
        pytest.param(T0 - timedelta(seconds=61), False, id="sample-61s-before"),
        pytest.param(T0 + timedelta(minutes=5), False, id="sample-5min-after"),
    ],
)
def test_a_register_reading_takes_the_power_of_a_sample_within_the_window(sample_at, joined):
    join = PowerJoin(window=timedelta(seconds=60))
    join.remember(sample(sample_at))
    completed = join.complete(register(T0))
    if joined:
        assert (completed.power_w, completed.voltage, completed.current, completed.power_factor) == (
            450.0,
            231.0,
            2.0,
            0.97,
        )
        assert completed.phases == L1
        assert (completed.energy_kwh, completed.timestamp) == (2.77621, T0)  # the register stays its own
    else:
        assert completed == register(T0)


def test_a_reading_with_power_or_from_another_meter_is_left_alone():
    join = PowerJoin()
    join.remember(sample(T0))
    with_power = register(T0, power_w=100.0, voltage=229.0)
    assert join.complete(with_power) == with_power
    other = PowerJoin()
    other.remember(sample(T0, device_id="pro3em-2"))
    assert other.complete(register(T0)).power_w is None


def test_an_older_sample_arriving_late_never_replaces_a_newer_one():
    join = PowerJoin()
    join.remember(sample(T0, power_w=900.0))
    join.remember(sample(T0 - timedelta(seconds=10), power_w=100.0))
    assert join.complete(register(T0 + timedelta(seconds=1))).power_w == 900.0
    join.remember(sample(T0 + timedelta(seconds=5), power_w=300.0))
    assert join.complete(register(T0 + timedelta(seconds=6))).power_w == 300.0


@pytest.mark.parametrize(
    ("second", "copy"),
    [
        pytest.param(register(T0 + timedelta(seconds=5)), True, id="same-register-within-5s"),
        pytest.param(register(T0 - timedelta(seconds=3)), True, id="same-register-3s-earlier"),
        pytest.param(register(T0 + timedelta(seconds=6)), False, id="same-register-6s-later"),
        pytest.param(register(T0 + timedelta(seconds=1), energy_kwh=2.77700), False, id="import-register-moved"),
        pytest.param(register(T0 + timedelta(seconds=1), export=1.2060), False, id="export-register-moved"),
    ],
)
def test_a_register_reading_repeated_within_seconds_is_a_copy(second, copy):
    join = PowerJoin()
    assert join.is_copy(register(T0)) is False
    assert join.is_copy(second) is copy
