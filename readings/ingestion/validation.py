"""Telemetry validation: one MQTT message in, a `Reading` or a `Rejection` out.

A pure function that never raises: the caller passes the receive time, the limits and the
meter lookup. Payload format, aliases, ranges and rejection reasons:
docs/ingestion.md#message-format and docs/ingestion.md#validation-rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from devices.identity import DEVICE_ID_RULE, TELEMETRY_TOPIC_TEMPLATE, device_id_from_topic
from readings.types import Reading

MAX_PAYLOAD_BYTES = 4096
MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_BACKFILL = timedelta(days=35)


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


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    message: str
    device_id: str = ""  # the topic's meter id when the topic was well formed


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What validation needs to know about a registered meter.

    A meter exchanged for another (``exchanged_at``, ``exchanged_for``: the new meter's id) is
    decommissioned, yet its readings from before the exchange are still taken: telemetry it
    buffered, or the broker queued, arrives late.
    """

    device_id: str
    decommissioned: bool = False
    location: str = ""
    exchanged_at: datetime | None = None
    exchanged_for: str = ""


DeviceLookup = Callable[[str], DeviceInfo | None]


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


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("voltage", (), 0.0, 500.0, "V"),
    FieldSpec("current", (), 0.0, 200.0, "A"),
    FieldSpec("power_w", ("power",), -100_000.0, 100_000.0, "W"),
    FieldSpec("energy_kwh", ("energy",), 0.0, 1_000_000_000.0, "kWh"),
    FieldSpec("power_factor", ("pf",), -1.0, 1.0, ""),
    FieldSpec("rssi", (), -130.0, 0.0, "dBm", whole=True),
)


class _Reject(Exception):  # noqa: N818 - internal control flow, never escapes this module
    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_telemetry(
    *,
    topic: str | bytes,
    payload: bytes | bytearray | memoryview | str,
    received_at: datetime,
    device_lookup: DeviceLookup,
    backfill: timedelta = DEFAULT_BACKFILL,
    max_future: timedelta = MAX_CLOCK_SKEW,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Reading | Rejection:
    """Validate one telemetry message. `received_at` must be timezone-aware."""
    device_id = ""
    try:
        # The topic names the meter, and nothing here can check that meter sent it: Mosquitto
        # does not tell subscribers who published. The broker's per-meter ACL (publish to its
        # own topic only) is that check: docs/ingestion.md#who-may-publish-as-a-meter.
        device_id = _device_id_from_topic(topic)
        raw = _as_bytes(payload)
        if len(raw) > max_bytes:
            raise _Reject(Reason.OVERSIZE, f"payload is {len(raw)} bytes; the limit is {max_bytes}")
        device = device_lookup(device_id)
        if device is None:
            raise _Reject(Reason.UNKNOWN_DEVICE, f"meter {device_id!r} is not registered")
        if device.decommissioned and device.exchanged_at is None:
            raise _Reject(Reason.DECOMMISSIONED_DEVICE, f"meter {device_id!r} is decommissioned")
        document = _decode_json(raw)
        if not isinstance(document, dict):
            raise _Reject(Reason.NOT_OBJECT, f"payload is a JSON {_json_kind(document)}, not an object")
        _check_payload_device(document, device_id)
        voltage, current, power_w, energy_kwh, power_factor, rssi = _physical_values(document)
        timestamp = _timestamp(document, received_at=received_at, backfill=backfill, max_future=max_future)
        if device.exchanged_at is not None and timestamp >= device.exchanged_at:
            raise _Reject(Reason.METER_EXCHANGED, _exchanged_message(device))
        return Reading(
            device_id=device_id,
            timestamp=timestamp,
            voltage=voltage,
            current=current,
            power_w=power_w,
            energy_kwh=energy_kwh,
            power_factor=power_factor,
            rssi=int(rssi),
            location=device.location,
        )
    except _Reject as rejected:
        return Rejection(rejected.reason, rejected.message, device_id)


def _exchanged_message(device: DeviceInfo) -> str:
    instant = _normalise(device.exchanged_at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (
        f"meter {device.device_id!r} was exchanged for {device.exchanged_for!r} at {instant}; "
        "readings after it are refused"
    )


def _device_id_from_topic(topic: str | bytes) -> str:
    if isinstance(topic, bytes | bytearray):
        try:
            topic = bytes(topic).decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(Reason.BAD_TOPIC, "topic is not valid UTF-8") from None
    if not isinstance(topic, str):
        raise _Reject(Reason.BAD_TOPIC, "topic is not text")
    device_id = device_id_from_topic(topic)
    if device_id is None:
        shown = repr(_shorten(topic, 80))
        raise _Reject(
            Reason.BAD_TOPIC,
            f"topic {shown} is not {TELEMETRY_TOPIC_TEMPLATE} (device_id: {DEVICE_ID_RULE})",
        )
    return device_id


def _as_bytes(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8", errors="surrogatepass")
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise _Reject(Reason.NOT_JSON, f"payload is a {type(payload).__name__}, not bytes")


def _decode_json(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Reject(Reason.NOT_JSON, f"payload is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise _Reject(Reason.NOT_JSON, "payload is empty") from None
        raise _Reject(
            Reason.NOT_JSON, f"payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _Reject(Reason.NOT_JSON, "payload nests too deeply to be telemetry") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise _Reject(Reason.NOT_JSON, f"payload is not usable JSON: {str(exc)[:120]}") from None


def _json_kind(value: object) -> str:
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


def _check_payload_device(document: dict, device_id: str) -> None:
    if "device_id" not in document:
        return
    claimed = document["device_id"]
    if not isinstance(claimed, str):
        raise _Reject(Reason.WRONG_TYPE, f"device_id must be a string, got a JSON {_json_kind(claimed)}")
    if claimed != device_id:
        shown = repr(_shorten(claimed, 64))
        raise _Reject(Reason.DEVICE_MISMATCH, f"payload device_id {shown} does not match topic meter {device_id!r}")


def _physical_values(document: dict) -> list[float]:
    """The six values in FIELDS order (this runs for every message: kept lean)."""
    values = []
    for spec, keys in _FIELD_KEYS:
        for key in keys:
            value = document.get(key, _MISSING)
            if value is not _MISSING:
                break
        else:
            raise _Reject(Reason.MISSING_FIELD, _missing_message(document))
        kind = type(value)
        if kind is float:
            if not spec.low <= value <= spec.high:  # False for NaN too
                raise _Reject(*_float_problem(spec, key, value))
        elif kind is int:
            if not spec.low <= value <= spec.high:  # compared as int: huge literals do not fit a float
                raise _Reject(Reason.OUT_OF_RANGE, _range_message(spec, key, value))
            value = float(value)
        else:  # bool is not int here: JSON true is not 1 V
            raise _Reject(Reason.WRONG_TYPE, f"{key} must be a number, got a JSON {_json_kind(value)}")
        if spec.whole and not value.is_integer():
            raise _Reject(Reason.WRONG_TYPE, f"{key} must be a whole number, got {value!r}")
        values.append(value)
    return values


_MISSING = object()
_FIELD_KEYS = tuple((spec, spec.keys) for spec in FIELDS)


def _missing_message(document: dict) -> str:
    missing = [
        spec.name if not spec.aliases else f"{spec.name} (or {'/'.join(spec.aliases)})"
        for spec in FIELDS
        if not any(key in document for key in spec.keys)
    ]
    return "missing field" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing)


def _float_problem(spec: FieldSpec, key: str, value: float) -> tuple[Reason, str]:
    if not math.isfinite(value):
        return Reason.NOT_FINITE, f"{key} is {value!r}; NaN and Infinity are not measurements"
    return Reason.OUT_OF_RANGE, _range_message(spec, key, value)


def _range_message(spec: FieldSpec, key: str, value: float) -> str:
    shown = _shorten(repr(value))
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{key} {shown} is outside {spec.low:g}..{spec.high:g}{unit}"


def _timestamp(document: dict, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    value = document.get("timestamp")
    if value is None:
        return _normalise(received_at)
    if type(value) is str:
        return _from_iso(value, received_at=received_at, backfill=backfill, max_future=max_future)
    if isinstance(value, bool):
        raise _Reject(Reason.WRONG_TYPE, "timestamp must be ISO 8601 text or epoch seconds, got a JSON boolean")
    if isinstance(value, int | float):
        return _from_epoch(value, received_at=received_at, backfill=backfill, max_future=max_future)
    if isinstance(value, str):
        return _from_iso(value, received_at=received_at, backfill=backfill, max_future=max_future)
    raise _Reject(
        Reason.WRONG_TYPE, f"timestamp must be ISO 8601 text or epoch seconds, got a JSON {_json_kind(value)}"
    )


def _from_epoch(value: float, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Reject(Reason.NOT_FINITE, f"timestamp is {value!r}")
    shown = _shorten(repr(value))
    # Compare as numbers first: a wild value must not reach datetime arithmetic.
    now = received_at.timestamp()
    if value > now + max_future.total_seconds():
        hint = " (epoch milliseconds? send seconds)" if value > 1e11 else ""
        raise _Reject(
            Reason.TIMESTAMP_FUTURE,
            f"timestamp {shown} is more than {_span(max_future)} ahead of the receive time{hint}",
        )
    if value < now - backfill.total_seconds():
        raise _Reject(
            Reason.TIMESTAMP_TOO_OLD, f"timestamp {shown} is older than the backfill window ({_span(backfill)})"
        )
    return _normalise(datetime.fromtimestamp(value, tz=UTC))


def _from_iso(value: str, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if len(value) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Reject(Reason.WRONG_TYPE, f"timestamp {_quoted(value)} is not ISO 8601 (e.g. 2025-03-01T10:15:00+05:30)")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Reject(Reason.WRONG_TYPE, f"timestamp {_quoted(value)} has no UTC offset (add Z or +05:30)")
    # Aware subtraction works on offsets without converting, so extreme years cannot overflow here.
    ahead = parsed - received_at
    if ahead > max_future:
        raise _Reject(
            Reason.TIMESTAMP_FUTURE,
            f"timestamp {_quoted(value)} is more than {_span(max_future)} ahead of the receive time",
        )
    if -ahead > backfill:
        raise _Reject(
            Reason.TIMESTAMP_TOO_OLD,
            f"timestamp {_quoted(value)} is older than the backfill window ({_span(backfill)})",
        )
    return _normalise(parsed)


def _quoted(text: str) -> str:
    return repr(_shorten(text))


def _normalise(moment: datetime) -> datetime:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    sub_millisecond = moment.microsecond % 1000
    return moment.replace(microsecond=moment.microsecond - sub_millisecond) if sub_millisecond else moment


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"  # pragma: no cover - the loop ends at one-second units
