"""The product's own JSON on smartmeter/<device_id>/telemetry (docs/ingestion.md#message-format).

Every field of FIELDS is required (each under its name or an alias); `timestamp`, `device_id`
(must match the topic) and `energy_export_kwh` are optional. This runs for every native
message: kept lean.
"""

from __future__ import annotations

from readings.ingestion.formats.base import (
    EXPORT,
    FIELDS,
    Mapped,
    Reason,
    Refused,
    json_kind,
    measurement,
    shorten,
)

NAME = "native"
TIME_KEY = b'"timestamp"'


def untimed(payload: bytes, rest: str) -> bool:
    """Whether the message carries no time of its own (it is then stored at its receive time)."""
    return TIME_KEY not in payload


def to_mapped(document: dict, *, device_id: str, rest: str, local_zone) -> Mapped:
    _check_payload_device(document, device_id)
    values = []
    for spec, keys in _FIELD_KEYS:
        for key in keys:
            value = document.get(key, _MISSING)
            if value is not _MISSING:
                break
        else:
            raise Refused(Reason.MISSING_FIELD, _missing_message(document))
        kind = type(value)
        if kind is float and not spec.whole and spec.low <= value <= spec.high:
            values.append(value)  # the common cases, checked inline
        elif kind is int and spec.low <= value <= spec.high:
            values.append(float(value))
        else:
            values.append(measurement(key, value, spec))
    voltage, current, power_w, energy_kwh, power_factor, rssi = values
    export = document.get("energy_export_kwh")
    return Mapped(
        energy_kwh=energy_kwh,
        power_w=power_w,
        voltage=voltage,
        current=current,
        power_factor=power_factor,
        rssi=int(rssi),
        energy_export_kwh=None if export is None else measurement("energy_export_kwh", export, EXPORT),
        timestamp=document.get("timestamp"),
    )


_MISSING = object()
_FIELD_KEYS = tuple((spec, spec.keys) for spec in FIELDS)


def _check_payload_device(document: dict, device_id: str) -> None:
    if "device_id" not in document:
        return
    claimed = document["device_id"]
    if not isinstance(claimed, str):
        raise Refused(Reason.WRONG_TYPE, f"device_id must be a string, got a JSON {json_kind(claimed)}")
    if claimed != device_id:
        shown = repr(shorten(claimed, 64))
        raise Refused(Reason.DEVICE_MISMATCH, f"payload device_id {shown} does not match topic meter {device_id!r}")


def _missing_message(document: dict) -> str:
    missing = [
        spec.name if not spec.aliases else f"{spec.name} (or {'/'.join(spec.aliases)})"
        for spec in FIELDS
        if not any(key in document for key in spec.keys)
    ]
    return "missing field" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing)
