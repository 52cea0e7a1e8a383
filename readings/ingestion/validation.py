"""Telemetry validation: one MQTT message in; a `Reading`, a `PowerSample`, an `Ignored` or a `Rejection` out.

A pure function that never raises: the caller passes the receive time, the limits and the
meter lookup. The topic says which payload format the message is in (devices.identity); the
format's adapter (readings.ingestion.formats) maps it onto the reading schema; the checks
common to every format (the meter, the size, the time) are here. Payload formats, ranges and
rejection reasons: docs/ingestion.md#payload-formats and docs/ingestion.md#validation-rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from devices.identity import (
    DEFAULT_PREFIXES,
    DEVICE_ID_RULE,
    NATIVE,
    PAYLOAD_FORMAT_LABELS,
    TELEMETRY_TOPIC_TEMPLATE,
    TopicPrefixes,
    TopicRoute,
    route_topic,
)
from readings.ingestion.formats import FORMATS
from readings.ingestion.formats.base import FIELDS, FieldSpec, Reason, Refused, json_kind, shorten
from readings.types import PowerSample, Reading

__all__ = ["FIELDS", "DeviceInfo", "FieldSpec", "Ignored", "Reason", "Rejection", "parse_telemetry"]

MAX_PAYLOAD_BYTES = 4096
MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_BACKFILL = timedelta(days=35)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    message: str
    device_id: str = ""  # the topic's meter id when the topic was well formed


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message from a registered meter that carries nothing to store or show
    (a Shelly notification of another component, say): acknowledged and counted, not an error."""

    device_id: str
    why: str


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
    payload_format: str = NATIVE


DeviceLookup = Callable[[str], DeviceInfo | None]
Parsed = Reading | PowerSample | Ignored | Rejection


def parse_telemetry(
    *,
    topic: str | bytes,
    payload: bytes | bytearray | memoryview | str,
    received_at: datetime,
    device_lookup: DeviceLookup,
    backfill: timedelta = DEFAULT_BACKFILL,
    max_future: timedelta = MAX_CLOCK_SKEW,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    prefixes: TopicPrefixes = DEFAULT_PREFIXES,
    local_zone: tzinfo = UTC,
) -> Parsed:
    """Validate one telemetry message. `received_at` must be timezone-aware; `local_zone` is
    the zone of device clocks that send no offset (Tasmota)."""
    device_id = ""
    try:
        # The topic names the meter, and nothing here can check that meter sent it: Mosquitto
        # does not tell subscribers who published. The broker's per-meter ACL (publish to its
        # own topics only) is that check: docs/ingestion.md#who-may-publish-as-a-meter.
        route = _route(topic, prefixes)
        device_id = route.device_id
        raw = _as_bytes(payload)
        if len(raw) > max_bytes:
            raise Refused(Reason.OVERSIZE, f"payload is {len(raw)} bytes; the limit is {max_bytes}")
        device = device_lookup(device_id)
        if device is None:
            raise Refused(Reason.UNKNOWN_DEVICE, f"meter {device_id!r} is not registered")
        if device.decommissioned and device.exchanged_at is None:
            raise Refused(Reason.DECOMMISSIONED_DEVICE, f"meter {device_id!r} is decommissioned")
        if device.payload_format != route.payload_format:
            raise Refused(Reason.WRONG_FORMAT, _format_message(device, route))
        document = _decode_json(raw)
        if not isinstance(document, dict):
            raise Refused(Reason.NOT_OBJECT, f"payload is a JSON {json_kind(document)}, not an object")
        mapped = FORMATS[route.payload_format].to_mapped(
            document, device_id=device_id, rest=route.rest, local_zone=local_zone
        )
        if mapped.ignored:
            return Ignored(device_id, mapped.ignored)
        timestamp = _timestamp(mapped.timestamp, received_at=received_at, backfill=backfill, max_future=max_future)
        if device.exchanged_at is not None and timestamp >= device.exchanged_at:
            raise Refused(Reason.METER_EXCHANGED, _exchanged_message(device))
        if mapped.energy_kwh is None:
            return PowerSample(
                device_id=device_id,
                timestamp=timestamp,
                power_w=mapped.power_w,
                voltage=mapped.voltage,
                current=mapped.current,
                power_factor=mapped.power_factor,
                phases=mapped.phases,
            )
        return Reading(
            device_id=device_id,
            timestamp=timestamp,
            voltage=mapped.voltage,
            current=mapped.current,
            power_w=mapped.power_w,
            energy_kwh=mapped.energy_kwh,
            power_factor=mapped.power_factor,
            rssi=mapped.rssi,
            location=device.location,
            energy_export_kwh=mapped.energy_export_kwh,
            phases=mapped.phases,
            registers=mapped.registers,
        )
    except Refused as refused:
        return Rejection(refused.reason, refused.message, device_id)


def _format_message(device: DeviceInfo, route: TopicRoute) -> str:
    expected = PAYLOAD_FORMAT_LABELS.get(device.payload_format, device.payload_format)
    got = PAYLOAD_FORMAT_LABELS.get(route.payload_format, route.payload_format)
    return (
        f"meter {device.device_id!r} is set up for the {device.payload_format} format ({expected}); this message "
        f"is on a {route.payload_format} topic ({got}): change the meter's payload format or the device's settings"
    )


def _exchanged_message(device: DeviceInfo) -> str:
    instant = _normalise(device.exchanged_at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (
        f"meter {device.device_id!r} was exchanged for {device.exchanged_for!r} at {instant}; "
        "readings after it are refused"
    )


def _route(topic: str | bytes, prefixes: TopicPrefixes) -> TopicRoute:
    if isinstance(topic, bytes | bytearray):
        try:
            topic = bytes(topic).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(Reason.BAD_TOPIC, "topic is not valid UTF-8") from None
    if not isinstance(topic, str):
        raise Refused(Reason.BAD_TOPIC, "topic is not text")
    route = route_topic(topic, prefixes)
    if route is None:
        shown = shorten(repr(topic), 80)
        raise Refused(
            Reason.BAD_TOPIC,
            f"topic {shown} is not {TELEMETRY_TOPIC_TEMPLATE} (device_id: {DEVICE_ID_RULE}) "
            "nor a Tasmota, Shelly or DSMR reader data topic",
        )
    return route


def _as_bytes(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8", errors="surrogatepass")
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise Refused(Reason.NOT_JSON, f"payload is a {type(payload).__name__}, not bytes")


def _decode_json(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(Reason.NOT_JSON, f"payload is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise Refused(Reason.NOT_JSON, "payload is empty") from None
        raise Refused(
            Reason.NOT_JSON, f"payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise Refused(Reason.NOT_JSON, "payload nests too deeply to be telemetry") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise Refused(Reason.NOT_JSON, f"payload is not usable JSON: {str(exc)[:120]}") from None


def _timestamp(value: object, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    if value is None:
        return _normalise(received_at)
    if type(value) is str:
        return _from_iso(value, received_at=received_at, backfill=backfill, max_future=max_future)
    if isinstance(value, datetime):
        return _within_window(value, received_at=received_at, backfill=backfill, max_future=max_future)
    if isinstance(value, bool):
        raise Refused(Reason.WRONG_TYPE, "timestamp must be ISO 8601 text or epoch seconds, got a JSON boolean")
    if isinstance(value, int | float):
        return _from_epoch(value, received_at=received_at, backfill=backfill, max_future=max_future)
    if isinstance(value, str):
        return _from_iso(value, received_at=received_at, backfill=backfill, max_future=max_future)
    raise Refused(Reason.WRONG_TYPE, f"timestamp must be ISO 8601 text or epoch seconds, got a JSON {json_kind(value)}")


def _within_window(moment: datetime, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    """An aware instant a device's own time field gave (Tasmota's Time read in its zone)."""
    shown = repr(moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
    ahead = moment - received_at
    if ahead > max_future:
        raise Refused(
            Reason.TIMESTAMP_FUTURE,
            f"the message's time {shown} is more than {_span(max_future)} ahead of the receive time "
            "(is the device's time zone set?)",
        )
    if -ahead > backfill:
        raise Refused(
            Reason.TIMESTAMP_TOO_OLD,
            f"the message's time {shown} is older than the backfill window ({_span(backfill)})",
        )
    return _normalise(moment)


def _from_epoch(value: float, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused(Reason.NOT_FINITE, f"timestamp is {value!r}")
    shown = shorten(repr(value))
    # Compare as numbers first: a wild value must not reach datetime arithmetic.
    now = received_at.timestamp()
    if value > now + max_future.total_seconds():
        hint = " (epoch milliseconds? send seconds)" if value > 1e11 else ""
        raise Refused(
            Reason.TIMESTAMP_FUTURE,
            f"timestamp {shown} is more than {_span(max_future)} ahead of the receive time{hint}",
        )
    if value < now - backfill.total_seconds():
        raise Refused(
            Reason.TIMESTAMP_TOO_OLD, f"timestamp {shown} is older than the backfill window ({_span(backfill)})"
        )
    return _normalise(datetime.fromtimestamp(value, tz=UTC))


def _from_iso(value: str, *, received_at: datetime, backfill: timedelta, max_future: timedelta) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if len(value) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Refused(Reason.WRONG_TYPE, f"timestamp {_quoted(value)} is not ISO 8601 (e.g. 2025-03-01T10:15:00+05:30)")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Refused(Reason.WRONG_TYPE, f"timestamp {_quoted(value)} has no UTC offset (add Z or +05:30)")
    # Aware subtraction works on offsets without converting, so extreme years cannot overflow here.
    ahead = parsed - received_at
    if ahead > max_future:
        raise Refused(
            Reason.TIMESTAMP_FUTURE,
            f"timestamp {_quoted(value)} is more than {_span(max_future)} ahead of the receive time",
        )
    if -ahead > backfill:
        raise Refused(
            Reason.TIMESTAMP_TOO_OLD,
            f"timestamp {_quoted(value)} is older than the backfill window ({_span(backfill)})",
        )
    return _normalise(parsed)


def _quoted(text: str) -> str:
    return repr(shorten(text))


def _normalise(moment: datetime) -> datetime:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    sub_millisecond = moment.microsecond % 1000
    return moment.replace(microsecond=moment.microsecond - sub_millisecond) if sub_millisecond else moment


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"  # pragma: no cover - the loop ends at one-second units
