"""Shelly Gen2/Gen3 energy meters (Pro 3EM, Pro EM, EM Gen3) under the MQTT prefix ``<MQTT_SHELLY_PREFIX>/<device_id>``.

Source: Shelly API documentation (Gen2+): components EM (``EM.GetStatus``: ``a_current``,
``a_voltage``, ``a_act_power``, ``a_aprt_power``, ``a_pf`` and b_/c_, ``total_current``,
``total_act_power``, ``total_aprt_power``), EMData (``total_act``, ``total_act_ret`` in Wh),
EM1/EM1Data on single-channel models (``act_power``, ``voltage``, ``current``, ``pf``;
``total_act_energy``, ``total_act_ret_energy`` in Wh), and "MQTT": with "Generic status update
over MQTT" a component's full status goes to ``<prefix>/status/<component>`` (no timestamp);
with "RPC status notifications" changes go to ``<prefix>/events/rpc`` as

    {"src":"shellypro3em-...","dst":"<prefix>/events","method":"NotifyStatus",
     "params":{"ts":1700000000.12,"emdata:0":{"id":0,"total_act":2776.21,"total_act_ret":0}}}

Quirks handled here:
- Power (em:0) and energy (emdata:0) come in separate messages: a power message is a
  `PowerSample` (live view, and joined by the consumer to the meter's next register reading);
  the register reading is what is stored. A NotifyFullStatus carries both and is joined here.
- Energy is in Wh: divided by 1000.
- NotifyStatus carries only what changed: an update without ``total_act_power`` (or ``total_act``)
  has nothing to store or show and is ignored, as are notifications of other components and events.
"""

from __future__ import annotations

from readings.ingestion.formats.base import (
    CURRENT,
    ENERGY,
    EXPORT,
    POWER,
    POWER_FACTOR,
    VOLTAGE,
    FieldSpec,
    Mapped,
    Reason,
    Refused,
    json_kind,
    measurement,
    quick_measurement,
)
from readings.types import Phase

NAME = "shelly-gen2"
WH = 0.001
_WH_HINT = "Wh expected"
_TS = FieldSpec("ts", (), 1.0e9, 1.0e11, "s")  # Unix seconds: 2001 to 5138


def untimed(payload: bytes, rest: str) -> bool:
    return not rest.startswith("events/") or b'"ts"' not in payload


def to_mapped(document: dict, *, device_id: str, rest: str, local_zone) -> Mapped:
    if rest.startswith("status/"):
        component = rest.removeprefix("status/")
        return _component(component, document, notification=False)
    return _notification(document)


def _notification(document: dict) -> Mapped:
    method = document.get("method")
    if method not in ("NotifyStatus", "NotifyFullStatus"):
        shown = method if isinstance(method, str) else json_kind(method)
        return Mapped(ignored=f"an RPC notification {str(shown)[:40]!r}, not a status")
    params = document.get("params")
    if not isinstance(params, dict):
        raise Refused(Reason.WRONG_TYPE, f"params must be an object, got a JSON {json_kind(params)}")
    ts = params.get("ts")
    timestamp = None if ts is None else measurement("params.ts", ts, _TS)
    energy_key = next((key for key in ("emdata:0", "em1data:0") if key in params), None)
    power_key = next((key for key in ("em:0", "em1:0") if key in params), None)
    if energy_key is None and power_key is None:
        return Mapped(ignored="a status notification without em:0/emdata:0 (another component)")
    power = (
        _component(power_key, params[power_key], notification=True, source=f"params.{power_key}") if power_key else None
    )
    if energy_key is None:
        if power is None or power.ignored:
            return power or Mapped(ignored="nothing to show")
        power.timestamp = timestamp
        return power
    energy = _component(energy_key, params[energy_key], notification=True, source=f"params.{energy_key}")
    if energy.ignored and power is not None and not power.ignored:
        power.timestamp = timestamp  # a register delta without total_act: the power is still news
        return power
    energy.timestamp = timestamp
    if power is not None and not power.ignored:
        energy.power_w, energy.voltage, energy.current = power.power_w, power.voltage, power.current
        energy.power_factor, energy.phases = power.power_factor, power.phases
    return energy


def _component(component: str, status: object, *, notification: bool, source: str = "") -> Mapped:
    source = source or component
    if not isinstance(status, dict):
        raise Refused(Reason.WRONG_TYPE, f"{source} must be an object, got a JSON {json_kind(status)}")
    if component == "em:0":
        return _em(status, source, notification)
    if component == "em1:0":
        return _em1(status, source, notification)
    if component == "emdata:0":
        return _energy(status, source, notification, total="total_act", returned="total_act_ret")
    return _energy(status, source, notification, total="total_act_energy", returned="total_act_ret_energy")


def _em(status: dict, source: str, notification: bool) -> Mapped:
    if "total_act_power" not in status:
        if notification:
            return Mapped(ignored=f"{source} update without total_act_power")
        raise Refused(Reason.MISSING_FIELD, f"{source}.total_act_power is missing")
    phases = []
    for name, voltage_key, current_key, power_key, pf_key in _PHASE_KEYS:
        phase = Phase(
            name,
            _optional(status, voltage_key, VOLTAGE, source),
            _optional(status, current_key, CURRENT, source),
            _optional(status, power_key, POWER, source),
            _optional(status, pf_key, POWER_FACTOR, source),
        )
        if phase.voltage is not None or phase.current is not None or phase.power_w is not None:
            phases.append(phase)
    power_w = measurement(f"{source}.total_act_power", status["total_act_power"], POWER, hint="W expected")
    apparent = _optional(status, "total_aprt_power", POWER, source)
    voltages = [phase.voltage for phase in phases if phase.voltage is not None]
    return Mapped(
        power_w=power_w,
        voltage=sum(voltages) / len(voltages) if voltages else None,
        current=_optional(status, "total_current", CURRENT, source),
        power_factor=max(-1.0, min(1.0, power_w / apparent)) if apparent else None,
        phases=tuple(phases),
    )


_PHASE_KEYS = tuple(
    (name, f"{letter}_voltage", f"{letter}_current", f"{letter}_act_power", f"{letter}_pf")
    for letter, name in (("a", "L1"), ("b", "L2"), ("c", "L3"))
)


def _em1(status: dict, source: str, notification: bool) -> Mapped:
    if "act_power" not in status:
        if notification:
            return Mapped(ignored=f"{source} update without act_power")
        raise Refused(Reason.MISSING_FIELD, f"{source}.act_power is missing")
    return Mapped(
        power_w=measurement(f"{source}.act_power", status["act_power"], POWER, hint="W expected"),
        voltage=_optional(status, "voltage", VOLTAGE, source),
        current=_optional(status, "current", CURRENT, source),
        power_factor=_optional(status, "pf", POWER_FACTOR, source),
    )


def _energy(status: dict, source: str, notification: bool, *, total: str, returned: str) -> Mapped:
    if total not in status:
        if notification:
            return Mapped(ignored=f"{source} update without {total}")
        raise Refused(Reason.MISSING_FIELD, f"{source}.{total} is missing")
    return Mapped(
        energy_kwh=measurement(f"{source}.{total}", status[total], ENERGY, scale=WH, unit="Wh", hint=_WH_HINT),
        energy_export_kwh=_optional(status, returned, EXPORT, source, scale=WH, unit="Wh", hint=_WH_HINT),
    )


def _optional(status: dict, key: str, spec, source: str, scale: float = 1.0, **options) -> float | None:
    value = status.get(key)
    if value is None:
        return None
    quick = quick_measurement(value, spec, scale)
    return quick if quick is not None else measurement(f"{source}.{key}", value, spec, scale=scale, **options)
