"""DSMR (P1 port) readers: dsmr-reader's "JSON telegram" on ``<MQTT_DSMR_PREFIX>/<device_id>/json``.

Source: dsmr-reader documentation, "Integration: MQTT" (JSON telegram; fields as the DsmrReading
model), e.g.

    {"id": 8, "timestamp": "2024-01-31T18:05:00+01:00",
     "electricity_delivered_1": "1234.567", "electricity_returned_1": "0.000",
     "electricity_delivered_2": "2345.678", "electricity_returned_2": "12.345",
     "electricity_currently_delivered": "0.345", "electricity_currently_returned": "0.000",
     "phase_currently_delivered_l1": "0.345", "phase_voltage_l1": "230.0", "phase_power_current_l1": 1}

Quirks handled here:
- Values are decimal text (numbers are accepted too); registers are kWh, power is kW.
- Two tariff registers (1: low/night, 2: normal/day) for import and for export: the reading's
  register is their sum (billing uses the total import register) and each is kept by name.
- Per-phase power, voltage and current (l1..l3) when the meter sends them (null otherwise); a
  single-phase meter's L1 is the reading's own power, voltage and current, not kept twice.
- ``timestamp`` carries its offset; a message without one is taken at its receive time.
"""

from __future__ import annotations

from readings.ingestion.formats.base import (
    CURRENT,
    ENERGY,
    EXPORT,
    POWER,
    VOLTAGE,
    Mapped,
    Reason,
    Refused,
    measurement,
    quick_measurement,
)
from readings.types import Phase

NAME = "dsmr-reader"
KW = 1000.0
_KW_HINT = "kW expected: W sent?"


def untimed(payload: bytes, rest: str) -> bool:
    return b'"timestamp"' not in payload


def to_mapped(document: dict, *, device_id: str, rest: str, local_zone) -> Mapped:
    if document.get("electricity_delivered_1") is None:
        raise Refused(Reason.MISSING_FIELD, "electricity_delivered_1 is missing (the import register, tariff 1)")
    registers = []
    for key, name in _REGISTER_KEYS:
        value = _value(document, key, ENERGY, hint="kWh expected: Wh sent?")
        if value is not None:
            registers.append((name, value))
    returned = [
        value
        for key in ("electricity_returned_1", "electricity_returned_2")
        if (value := _value(document, key, EXPORT)) is not None
    ]
    delivered_now = _value(document, "electricity_currently_delivered", POWER, scale=KW, unit="kW", hint=_KW_HINT)
    returned_now = _value(document, "electricity_currently_returned", POWER, scale=KW, unit="kW", hint=_KW_HINT)
    power_w = _net(delivered_now, returned_now)
    phases = []
    for name, delivered_key, returned_key, voltage_key, current_key in _PHASE_KEYS:
        delivered = _value(document, delivered_key, POWER, scale=KW, unit="kW", hint=_KW_HINT)
        returned_phase = _value(document, returned_key, POWER, scale=KW, unit="kW")
        voltage = _value(document, voltage_key, VOLTAGE)
        current = _value(document, current_key, CURRENT)
        if delivered is None and returned_phase is None and voltage is None and current is None:
            continue  # a phase the meter does not have (null) or does not measure
        phases.append(Phase(name, voltage=voltage, current=current, power_w=_net(delivered, returned_phase)))
    voltages = [phase.voltage for phase in phases if phase.voltage is not None]
    currents = [phase.current for phase in phases if phase.current is not None]
    return Mapped(
        energy_kwh=sum(value for _, value in registers),
        power_w=power_w,
        voltage=sum(voltages) / len(voltages) if voltages else None,
        current=sum(currents) if currents else None,
        energy_export_kwh=sum(returned) if returned else None,
        timestamp=document.get("timestamp"),
        phases=tuple(phases) if len(phases) > 1 else (),  # one phase: its values are the totals above
        registers=tuple(registers) if len(registers) > 1 else (),
    )


_REGISTER_KEYS = (("electricity_delivered_1", "delivered_1"), ("electricity_delivered_2", "delivered_2"))
_PHASE_KEYS = tuple(
    (
        f"L{number}",
        f"phase_currently_delivered_l{number}",
        f"phase_currently_returned_l{number}",
        f"phase_voltage_l{number}",
        f"phase_power_current_l{number}",
    )
    for number in (1, 2, 3)
)


def _value(document: dict, key: str, spec, scale: float = 1.0, **options) -> float | None:
    value = document.get(key)
    if value is None:
        return None
    quick = quick_measurement(value, spec, scale, text=True)
    return quick if quick is not None else measurement(key, value, spec, scale=scale, text=True, **options)


def _net(delivered: float | None, returned: float | None) -> float | None:
    """Power drawn minus power returned; None when the meter sent neither."""
    if delivered is None and returned is None:
        return None
    return (delivered or 0.0) - (returned or 0.0)
