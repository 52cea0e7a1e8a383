"""What a meter of each payload format publishes for one simulated sample: a list of (topic, payload).

Pure (no Django): the simulator, the demo and the ingestion benchmark encode the same physical
values (devtools.simulation) the way the real devices do. The formats and their topics are
described in docs/ingestion.md#payload-formats; topics come from devices.identity.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from devices.identity import (
    DEFAULT_PREFIXES,
    DSMR_READER,
    NATIVE,
    PAYLOAD_FORMATS,
    SHELLY_EVENTS_SUFFIX,
    SHELLY_GEN2,
    TASMOTA,
    TopicPrefixes,
    meter_publish_root,
    meter_topics,
)

Message = tuple[str, bytes]

# How a three-phase installation's load spreads over its phases, and each phase's voltage offset
# from the sample's voltage: fixed, so an encoded sample is a pure function of the sample.
PHASE_SHARES = (0.45, 0.35, 0.20)
PHASE_VOLTAGE_OFFSETS = (0.0, 1.3, -0.9)
PHASES = "abc"

# Tariff 1 (low, night) from 23:00 to 07:00 local time, tariff 2 (normal) the rest of the day,
# as Dutch DSMR meters count it.
NIGHT_TARIFF_HOURS = frozenset({23, 0, 1, 2, 3, 4, 5, 6})


def is_night_tariff(local_hour: int) -> bool:
    return local_hour in NIGHT_TARIFF_HOURS


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One instant's physical values of a simulated meter, unrounded, in SI-ish units."""

    device_id: str
    at: datetime  # aware
    power_w: float
    energy_kwh: float  # the import register
    voltage: float
    power_factor: float
    rssi: int
    night_kwh: float = 0.0  # the part of energy_kwh counted at the night (low) tariff
    today_kwh: float = 0.0  # energy since local midnight
    yesterday_kwh: float = 0.0  # energy of the previous local day
    counting_since: datetime | None = None  # when the register started counting (Tasmota TotalStartTime)
    frequency_hz: float = 50.0

    @property
    def current(self) -> float:
        return self.power_w / (self.voltage * self.power_factor)

    @property
    def day_kwh(self) -> float:
        return self.energy_kwh - self.night_kwh


@dataclass(frozen=True, slots=True)
class Phase:
    power_w: float
    voltage: float
    current: float
    power_factor: float

    @property
    def apparent_power(self) -> float:
        return self.voltage * self.current


def phases_of(sample: MeterSample) -> list[Phase]:
    """The sample spread over three phases: phase powers add up to the sample's power."""
    phases = []
    for share, offset in zip(PHASE_SHARES, PHASE_VOLTAGE_OFFSETS, strict=True):
        power_w = sample.power_w * share
        voltage = sample.voltage + offset
        phases.append(Phase(power_w, voltage, power_w / (voltage * sample.power_factor), sample.power_factor))
    return phases


def _json(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _split(total: float, shares: tuple[float, ...], places: int) -> list[float]:
    """`total` in parts by `shares`, rounded to `places`, the last part taking the remainder so the
    rounded parts add up exactly to the rounded total."""
    quantum = Decimal(1).scaleb(-places)
    whole = Decimal(repr(total)).quantize(quantum, ROUND_HALF_UP)
    parts = [(whole * Decimal(repr(share))).quantize(quantum, ROUND_HALF_UP) for share in shares[:-1]]
    parts.append(whole - sum(parts))
    return [float(part) for part in parts]


# --- native ----------------------------------------------------------------------------------


def native_body(sample: MeterSample) -> dict:
    """The product's own telemetry JSON (docs/ingestion.md#message-format)."""
    return {
        "device_id": sample.device_id,
        "timestamp": sample.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "voltage": round(sample.voltage, 1),
        "current": round(sample.current, 3),
        "power_w": round(sample.power_w, 1),
        "energy_kwh": round(sample.energy_kwh, 4),
        "power_factor": round(sample.power_factor, 3),
        "rssi": sample.rssi,
    }


def native_messages(sample: MeterSample, *, prefixes: TopicPrefixes) -> list[Message]:
    (topic,) = meter_topics(NATIVE, sample.device_id, prefixes)
    return [(topic, _json(native_body(sample)))]


# --- Tasmota ---------------------------------------------------------------------------------
# Tasmota docs, energy monitoring "Sensor" telemetry (https://tasmota.github.io/docs/), tele/<topic>/SENSOR,
# shaped like:
#   {"Time":"2019-12-24T10:41:47","ENERGY":{"TotalStartTime":"2019-12-23T17:02:03","Total":0.006,
#    "Yesterday":0.000,"Today":0.006,"Power":7,"ApparentPower":10,"ReactivePower":7,"Factor":0.70,
#    "Voltage":230,"Current":0.043}}
# Time and TotalStartTime are the device's local time with no offset (its Timezone setting).
# Three-phase meters (e.g. three PZEM-004T, ADE7880) report Power, ApparentPower, ReactivePower,
# Factor, Voltage and Current as arrays of three; Total, Yesterday and Today stay single numbers.

TASMOTA_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _reactive(apparent: float, active: float) -> float:
    return math.sqrt(max(apparent * apparent - active * active, 0.0))


def tasmota_body(sample: MeterSample, *, zone: tzinfo, three_phase: bool = False) -> dict:
    since = sample.counting_since or sample.at
    energy = {
        "TotalStartTime": since.astimezone(zone).strftime(TASMOTA_TIME_FORMAT),
        "Total": round(sample.energy_kwh, 3),
        "Yesterday": round(sample.yesterday_kwh, 3),
        "Today": round(sample.today_kwh, 3),
    }
    if three_phase:
        phases = phases_of(sample)
        energy |= {
            "Power": [round(phase.power_w) for phase in phases],
            "ApparentPower": [round(phase.apparent_power) for phase in phases],
            "ReactivePower": [round(_reactive(phase.apparent_power, phase.power_w)) for phase in phases],
            "Factor": [round(phase.power_factor, 2) for phase in phases],
            "Voltage": [round(phase.voltage) for phase in phases],
            "Current": [round(phase.current, 3) for phase in phases],
        }
    else:
        apparent = sample.voltage * sample.current
        energy |= {
            "Power": round(sample.power_w),
            "ApparentPower": round(apparent),
            "ReactivePower": round(_reactive(apparent, sample.power_w)),
            "Factor": round(sample.power_factor, 2),
            "Voltage": round(sample.voltage),
            "Current": round(sample.current, 3),
        }
    return {"Time": sample.at.astimezone(zone).strftime(TASMOTA_TIME_FORMAT), "ENERGY": energy}


def tasmota_messages(
    sample: MeterSample, *, prefixes: TopicPrefixes, zone: tzinfo, three_phase: bool = False
) -> list[Message]:
    (topic,) = meter_topics(TASMOTA, sample.device_id, prefixes)
    return [(topic, _json(tasmota_body(sample, zone=zone, three_phase=three_phase)))]


# --- Shelly Gen2 (Pro 3EM) -------------------------------------------------------------------
# Shelly Gen2 API docs, EM component status
# (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/EM#status), published on
# <mqtt prefix>/status/em:0, shaped like:
#   {"id":0,"a_current":4.029,"a_voltage":236.1,"a_act_power":951.2,"a_aprt_power":951.9,"a_pf":1,
#    "a_freq":50,"b_...":...,"c_...":...,"n_current":null,"total_current":...,"total_act_power":...,
#    "total_aprt_power":...,"user_calibrated_phase":[]}
# EMData component status (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/EMData#status),
# on <mqtt prefix>/status/emdata:0, energies in Wh:
#   {"id":0,"a_total_act_energy":...,"a_total_act_ret_energy":...,"b_...":...,"c_...":...,
#    "total_act":...,"total_act_ret":...}
# Status topics carry no timestamp. Notifications (https://shelly-api-docs.shelly.cloud/gen2/General/Notifications)
# go to <mqtt prefix>/events/rpc as {"src":...,"dst":...,"method":"NotifyStatus","params":{"ts":...,
# "<component>":{...}}} and do carry one (unix seconds): the simulator uses them for backfilled readings.

SHELLY_POWER_COMPONENT = "em:0"
SHELLY_ENERGY_COMPONENT = "emdata:0"


def shelly_em_status(sample: MeterSample) -> dict:
    status: dict = {"id": 0}
    phases = phases_of(sample)
    for letter, phase in zip(PHASES, phases, strict=True):
        status |= {
            f"{letter}_current": round(phase.current, 3),
            f"{letter}_voltage": round(phase.voltage, 1),
            f"{letter}_act_power": round(phase.power_w, 1),
            f"{letter}_aprt_power": round(phase.apparent_power, 1),
            f"{letter}_pf": round(phase.power_factor, 2),
            f"{letter}_freq": round(sample.frequency_hz, 1),
        }
    return status | {
        "n_current": None,
        "total_current": round(sum(phase.current for phase in phases), 3),
        "total_act_power": round(sample.power_w, 3),
        "total_aprt_power": round(sum(phase.apparent_power for phase in phases), 3),
        "user_calibrated_phase": [],
    }


def shelly_emdata_status(sample: MeterSample) -> dict:
    total_wh = sample.energy_kwh * 1000
    status: dict = {"id": 0}
    for letter, phase_wh in zip(PHASES, _split(total_wh, PHASE_SHARES, 2), strict=True):
        status |= {f"{letter}_total_act_energy": phase_wh, f"{letter}_total_act_ret_energy": 0.0}
    return status | {"total_act": round(total_wh, 2), "total_act_ret": 0.0}


def shelly_messages(sample: MeterSample, *, prefixes: TopicPrefixes, backfill: bool = False) -> list[Message]:
    """Power then energy, as the device sends them: status topics live, NotifyStatus (with ts) for the past."""
    root = meter_publish_root(SHELLY_GEN2, sample.device_id, prefixes)
    components = (
        (SHELLY_POWER_COMPONENT, shelly_em_status(sample)),
        (SHELLY_ENERGY_COMPONENT, shelly_emdata_status(sample)),
    )
    if not backfill:
        return [(f"{root}/status/{component}", _json(status)) for component, status in components]
    return [
        (
            f"{root}/{SHELLY_EVENTS_SUFFIX}",
            _json(
                {
                    "src": f"shellypro3em-{sample.device_id}",
                    "dst": f"{root}/events",
                    "method": "NotifyStatus",
                    "params": {"ts": round(sample.at.timestamp(), 2), component: status},
                }
            ),
        )
        for component, status in components
    ]


# --- dsmr-reader ---------------------------------------------------------------------------
# dsmr-reader docs, "MQTT" / JSON telegram (https://dsmr-reader.readthedocs.io/, Configuration ->
# MQTT -> "JSON telegram"), one message per reading on the configured topic (here <prefix>/<id>/json),
# shaped like:
#   {"id":176,"timestamp":"2017-02-25T18:33:50+01:00","electricity_delivered_1":"1234.567",
#    "electricity_returned_1":"0.000","electricity_delivered_2":"2345.678","electricity_returned_2":"0.000",
#    "electricity_currently_delivered":"0.345","electricity_currently_returned":"0.000",
#    "phase_currently_delivered_l1":"0.345","phase_currently_delivered_l2":null,...,
#    "phase_voltage_l1":"230.0",...,"phase_power_current_l1":1,...}
# Decimals are strings, registers in kWh, power in kW; tariff 1 is the low (night) tariff.
# `id` is dsmr-reader's own reading number: the simulator uses the sample's unix time, which grows too.


def _kwh(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.001"), ROUND_HALF_UP)


def dsmr_body(sample: MeterSample, *, zone: tzinfo) -> dict:
    # Each tariff register is rounded on its own, as each only ever grows: their sum is the
    # register to within a Wh.
    night = _kwh(sample.night_kwh)
    day = _kwh(sample.day_kwh)
    power_kw = f"{_kwh(sample.power_w / 1000)}"
    return {
        "id": int(sample.at.timestamp()),
        "timestamp": sample.at.astimezone(zone).isoformat(timespec="seconds"),
        "electricity_delivered_1": f"{night}",
        "electricity_returned_1": "0.000",
        "electricity_delivered_2": f"{day}",
        "electricity_returned_2": "0.000",
        "electricity_currently_delivered": power_kw,
        "electricity_currently_returned": "0.000",
        "phase_currently_delivered_l1": power_kw,
        "phase_currently_delivered_l2": None,
        "phase_currently_delivered_l3": None,
        "phase_currently_returned_l1": "0.000",
        "phase_currently_returned_l2": None,
        "phase_currently_returned_l3": None,
        "phase_voltage_l1": f"{sample.voltage:.1f}",
        "phase_voltage_l2": None,
        "phase_voltage_l3": None,
        "phase_power_current_l1": round(sample.current),  # whole amperes, as the meter reports them
        "phase_power_current_l2": None,
        "phase_power_current_l3": None,
    }


def dsmr_messages(sample: MeterSample, *, prefixes: TopicPrefixes, zone: tzinfo) -> list[Message]:
    (topic,) = meter_topics(DSMR_READER, sample.device_id, prefixes)
    return [(topic, _json(dsmr_body(sample, zone=zone)))]


# --- any format ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """Where and how devices publish: topic prefixes, Tasmota's local zone, dsmr-reader's zone."""

    prefixes: TopicPrefixes = DEFAULT_PREFIXES
    tasmota_zone: tzinfo = UTC
    dsmr_zone: tzinfo = UTC
    tasmota_three_phase: bool = False


DEFAULT_OPTIONS = EncodeOptions()


def meter_messages(
    sample: MeterSample, payload_format: str, options: EncodeOptions = DEFAULT_OPTIONS, *, backfill: bool = False
) -> list[Message]:
    """What a device of `payload_format` publishes for `sample`; `backfill` asks for the form that
    carries the sample's instant (only Shelly has one that does not)."""
    if payload_format == NATIVE:
        return native_messages(sample, prefixes=options.prefixes)
    if payload_format == TASMOTA:
        return tasmota_messages(
            sample, prefixes=options.prefixes, zone=options.tasmota_zone, three_phase=options.tasmota_three_phase
        )
    if payload_format == SHELLY_GEN2:
        return shelly_messages(sample, prefixes=options.prefixes, backfill=backfill)
    if payload_format == DSMR_READER:
        return dsmr_messages(sample, prefixes=options.prefixes, zone=options.dsmr_zone)
    raise ValueError(f"unknown payload format {payload_format!r}; one of {', '.join(PAYLOAD_FORMATS)}")
