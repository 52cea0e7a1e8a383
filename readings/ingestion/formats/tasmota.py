"""Tasmota energy monitors: ``<MQTT_TASMOTA_PREFIX>/<device_id>/SENSOR`` (Tasmota's tele topic).

Source: Tasmota documentation, "Energy Monitoring" / "MQTT" (tele/%topic%/SENSOR every TelePeriod),
and the ENERGY object written by xdrv_03_energy.ino, e.g.

    {"Time":"2019-10-19T17:03:36","ENERGY":{"TotalStartTime":"2019-10-19T17:02:21","Total":0.001,
     "Yesterday":0.000,"Today":0.001,"Period":0,"Power":18,"ApparentPower":25,"ReactivePower":17,
     "Factor":0.73,"Voltage":231,"Current":0.108}}

Quirks handled here:
- ``Time`` has no offset: it is the device's local time, read in TASMOTA_TIME_ZONE. Before the
  device has synchronised its clock it reports 1970: such a message is taken at its receive time
  (Tasmota sends telemetry live and never buffers it).
- Multi-channel monitors send arrays, ``"Power":[23.63,67.17]``: the reading takes the sum of
  power, current and ``Total`` (when ``Total`` is an array), the mean voltage, and keeps each
  channel (CH1, CH2, ...; L1..L3 with three values: a three-phase monitor).
- ``EnergyReset`` / ``EnergyTotal 0`` set ``Total`` back to zero: that is a register reset, which
  the reading-quality rules recognise (the energy is counted from the new zero), not consumption.
- ``Total`` is kWh and ``Power`` W; a value far outside a meter's range is refused with a hint.
"""

from __future__ import annotations

from datetime import UTC, datetime

from readings.ingestion.formats.base import (
    CURRENT,
    ENERGY,
    EXPORT,
    POWER,
    POWER_FACTOR,
    VOLTAGE,
    Mapped,
    Reason,
    Refused,
    json_kind,
    measurement,
    shorten,
)
from readings.types import Phase

NAME = "tasmota"
MAX_CHANNELS = 8
CLOCK_NOT_SET_BEFORE = 2016  # a Tasmota without NTP counts from 1970-01-01


def untimed(payload: bytes, rest: str) -> bool:
    return b'"Time"' not in payload or b'"Time":"1970-' in payload


def to_mapped(document: dict, *, device_id: str, rest: str, local_zone) -> Mapped:
    energy = document.get("ENERGY")
    if energy is None:
        raise Refused(
            Reason.MISSING_FIELD,
            "ENERGY is missing: not an energy monitor's SENSOR message "
            "(is the meter's Tasmota built with energy support?)",
        )
    if not isinstance(energy, dict):
        raise Refused(Reason.WRONG_TYPE, f"ENERGY must be an object, got a JSON {json_kind(energy)}")
    for required in ("Total", "Power"):
        if energy.get(required) is None:  # null too: an empty channel list would sum to a 0 kWh register
            state = "null" if required in energy else "missing"
            raise Refused(Reason.MISSING_FIELD, f"ENERGY.{required} is {state}")
    totals = _channels(energy, "Total", ENERGY, hint="kWh expected: Wh sent?")
    powers = _channels(energy, "Power", POWER, hint="W expected")
    voltages = _channels(energy, "Voltage", VOLTAGE)
    currents = _channels(energy, "Current", CURRENT)
    factors = _channels(energy, "Factor", POWER_FACTOR)
    apparent = _channels(energy, "ApparentPower", POWER)
    export = _channels(energy, "ExportActive", EXPORT)
    power_w = sum(powers)
    count = len(powers)
    phases: tuple[Phase, ...] = ()
    if count > 1:
        prefix = "L" if count == 3 else "CH"
        phases = tuple(
            Phase(
                f"{prefix}{index + 1}",
                voltage=_nth(voltages, index),
                current=_nth(currents, index),
                power_w=powers[index],
                power_factor=_nth(factors, index),
            )
            for index in range(count)
        )
    if apparent and sum(apparent) > 0 and count > 1:
        power_factor = max(-1.0, min(1.0, power_w / sum(apparent)))
    else:
        power_factor = sum(factors) / len(factors) if factors else None
    return Mapped(
        energy_kwh=sum(totals),
        power_w=power_w,
        voltage=sum(voltages) / len(voltages) if voltages else None,
        current=sum(currents) if currents else None,
        power_factor=power_factor,
        energy_export_kwh=sum(export) if export else None,
        timestamp=_time(document.get("Time"), local_zone),
        phases=phases,
    )


def _channels(energy: dict, key: str, spec, *, hint: str = "") -> list[float]:
    """A field's value per channel: [] when absent or null, one value, or one per array element."""
    value = energy.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        if not value or len(value) > MAX_CHANNELS:
            raise Refused(
                Reason.WRONG_TYPE, f"ENERGY.{key} must have 1 to {MAX_CHANNELS} channels, got {len(value)} values"
            )
        return [measurement(f"ENERGY.{key}[{index}]", each, spec, hint=hint) for index, each in enumerate(value)]
    return [measurement(f"ENERGY.{key}", value, spec, hint=hint)]


def _nth(values: list[float], index: int) -> float | None:
    if len(values) == 1:
        return values[0]  # one voltage for every channel of a single-phase multi-channel device
    return values[index] if index < len(values) else None


def _time(value: object, local_zone) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refused(Reason.WRONG_TYPE, f"Time must be text like 2024-01-31T18:05:00, got a JSON {json_kind(value)}")
    try:
        moment = datetime.fromisoformat(value) if len(value) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise Refused(Reason.WRONG_TYPE, f"Time {shorten(value)!r} is not a date and time like 2024-01-31T18:05:00")
    if moment.year < CLOCK_NOT_SET_BEFORE:
        return None  # clock not set yet: the receive time stands in
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone)
    return moment.astimezone(UTC)
