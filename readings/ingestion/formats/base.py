"""What every payload format shares: rejection reasons, the physical limits of each value, the
checks that turn a JSON value into a measurement, and `Mapped`, an adapter's answer.

Pure (no Django). An adapter raises `Refused` with a reason and a message naming the field in
the device's own words (``ENERGY.Total``, ``emdata:0.total_act``); docs/ingestion.md#payload-formats.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from readings.types import Phase


class Reason(StrEnum):
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    OVERSIZE = "oversize"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    TIMESTAMP_FUTURE = "timestamp_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    UNKNOWN_DEVICE = "unknown_device"
    DECOMMISSIONED_DEVICE = "decommissioned_device"
    METER_EXCHANGED = "meter_exchanged"
    DEVICE_MISMATCH = "device_mismatch"
    BAD_TOPIC = "bad_topic"
    WRONG_FORMAT = "wrong_format"


class Refused(Exception):  # noqa: N818 - control flow inside validation, never escapes parse_telemetry
    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    aliases: tuple[str, ...]
    low: float
    high: float
    unit: str
    whole: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


VOLTAGE = FieldSpec("voltage", (), 0.0, 500.0, "V")
CURRENT = FieldSpec("current", (), 0.0, 200.0, "A")
POWER = FieldSpec("power_w", ("power",), -100_000.0, 100_000.0, "W")
ENERGY = FieldSpec("energy_kwh", ("energy",), 0.0, 1_000_000_000.0, "kWh")
POWER_FACTOR = FieldSpec("power_factor", ("pf",), -1.0, 1.0, "")
RSSI = FieldSpec("rssi", (), -130.0, 0.0, "dBm", whole=True)
FIELDS: tuple[FieldSpec, ...] = (VOLTAGE, CURRENT, POWER, ENERGY, POWER_FACTOR, RSSI)
EXPORT = FieldSpec("energy_export_kwh", (), 0.0, 1_000_000_000.0, "kWh")


@dataclass(slots=True)
class Mapped:
    """One message in the reading schema's units. `energy_kwh` None: a power-only message (shown
    live, never stored on its own); `ignored` set: the message carries nothing to store or show.

    `timestamp` is what the message said: None (use the receive time), an aware datetime, ISO 8601
    text or epoch seconds; validation checks it against the receive time.
    """

    energy_kwh: float | None = None
    power_w: float | None = None
    voltage: float | None = None
    current: float | None = None
    power_factor: float | None = None
    rssi: int | None = None
    energy_export_kwh: float | None = None
    timestamp: object = None
    phases: tuple[Phase, ...] = ()
    registers: tuple[tuple[str, float], ...] = ()
    ignored: str = ""


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_DECIMAL_TEXT = re.compile(r"-?\d{1,15}(\.\d{1,12})?")


def measurement(
    source: str,
    value: object,
    spec: FieldSpec,
    *,
    scale: float = 1.0,
    unit: str | None = None,
    text: bool = False,
    hint: str = "",
) -> float:
    """A JSON value as a measurement in `spec`'s unit: the device's value times `scale`.

    `source` names the field as the device does; `unit` is the device's unit (default the
    spec's); `text` accepts decimal text ("1234.567", as DSMR readers send). Range errors are
    told in the device's unit, with `hint` when the value looks like a unit mix-up.
    """
    kind = type(value)
    if kind is str and text:
        if not _DECIMAL_TEXT.fullmatch(value):
            raise Refused(Reason.WRONG_TYPE, f"{source} must be a decimal number, got {shorten(value)!r}")
        number = float(value)
    elif kind is float:
        if not math.isfinite(value):
            raise Refused(Reason.NOT_FINITE, f"{source} is {value!r}; NaN and Infinity are not measurements")
        number = value
    elif kind is int:
        if abs(value) > 10**18:  # compared as int: huge literals do not fit a float
            raise Refused(Reason.OUT_OF_RANGE, _range_message(source, value, spec, scale, unit, hint))
        number = float(value)
    else:  # bool is not int here: JSON true is not 1 V
        wanted = "a number or decimal text" if text else "a number"
        raise Refused(Reason.WRONG_TYPE, f"{source} must be {wanted}, got a JSON {json_kind(value)}")
    converted = number * scale
    if not spec.low <= converted <= spec.high:
        raise Refused(Reason.OUT_OF_RANGE, _range_message(source, value, spec, scale, unit, hint))
    if spec.whole and not converted.is_integer():
        raise Refused(Reason.WRONG_TYPE, f"{source} must be a whole number, got {value!r}")
    return converted


def quick_measurement(value: object, spec: FieldSpec, scale: float = 1.0, text: bool = False) -> float | None:
    """The common case without building a message: a number (or, with `text`, decimal text) within
    range, converted; None when `measurement` must judge it (and name the field)."""
    kind = type(value)
    if kind is float or (kind is int and -(10**15) < value < 10**15):
        converted = value * scale
    elif kind is str and text and _DECIMAL_TEXT.fullmatch(value):
        converted = float(value) * scale
    else:
        return None
    if spec.low <= converted <= spec.high and not spec.whole:  # False for NaN too
        return float(converted)
    return None


def _range_message(source: str, value: object, spec: FieldSpec, scale: float, unit: str | None, hint: str) -> str:
    shown = shorten(repr(value))
    unit = spec.unit if unit is None else unit
    suffix = f" {unit}" if unit else ""
    low, high = spec.low / scale, spec.high / scale
    return f"{source} {shown} is outside {low:g}..{high:g}{suffix}" + (f" ({hint})" if hint else "")
