"""What staff type into a meter's own web UI so it reaches the broker, per payload format, and
whether it has been heard from since: the "Connect this meter" panel of the meter admin.

The broker address is MQTT_PUBLIC_URL (the one meters use; default MQTT_URL) with no
credentials from it shown; the login is the meter's own (readings.meter_credentials); topics
come from devices.topics, so configured prefixes show. docs/deployment.md#meters-of-each-format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from devices.identity import DSMR_READER, PAYLOAD_FORMAT_LABELS, SHELLY_GEN2, TASMOTA
from devices.models import Device
from devices.topics import device_publish_root, device_topics
from readings.ingestion.mqtt import BrokerSettings, MqttConfigError
from readings.meter_credentials import broker_administration_configured, meter_username
from readings.models import DeadLetter
from readings.selectors import dead_letters_recent, reading_latest
from readings.types import Reading

TASMOTA_DEFAULT_TELE_PREFIX = "tele"  # Tasmota's Prefix3 out of the box
TASMOTA_TELE_PERIOD_SECONDS = 60
PASSWORD_PLACEHOLDER = "<password>"  # noqa: S105 (shown where no password is at hand)
RECENT_DEAD_LETTERS = 5


@dataclass(frozen=True, slots=True)
class Broker:
    """Where meters connect: host, port, TLS; or why MQTT_PUBLIC_URL cannot say."""

    host: str = ""
    port: int = 0
    tls: bool = False
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """One setting on the device's page: its label there, the value to enter, and a note."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Onboarding:
    """Everything the panel shows for one meter."""

    device_id: str
    payload_format: str
    format_label: str
    broker: Broker
    username: str
    password: str | None  # only on the page that just issued it
    accounts: bool  # whether the broker has logins at all (MQTT_ADMIN_URL set)
    topics: tuple[str, ...]
    publish_root: str
    where: str  # the page of the device's own UI the fields are on
    fields: tuple[Field, ...]
    notes: tuple[str, ...] = ()
    commands_title: str = ""
    commands: tuple[str, ...] = ()
    sample_payload: str = ""


@dataclass(frozen=True, slots=True)
class Heard:
    """Whether the meter has been heard from, what its newest reading said, and what was refused."""

    waiting: bool
    topics: tuple[str, ...]
    latest: tuple[tuple[str, str], ...] = ()  # (label, value) of the newest stored reading
    latest_at: datetime | None = None
    dead_letters: tuple[DeadLetter, ...] = field(default_factory=tuple)


def public_broker() -> Broker:
    """MQTT_PUBLIC_URL's host, port and TLS (never its username or password)."""
    try:
        broker = BrokerSettings.from_url(settings.MQTT_PUBLIC_URL)
    except MqttConfigError as exc:
        return Broker(problem=f"MQTT_PUBLIC_URL is not usable: {exc}")
    return Broker(host=broker.host, port=broker.port, tls=broker.tls)


def meter_onboarding(device: Device, *, password: str | None = None) -> Onboarding:
    """The settings for this meter's format; ``password`` when the page has just issued one."""
    broker = public_broker()
    username = meter_username(device.device_id)
    shown_password = password or PASSWORD_PLACEHOLDER
    common = {
        "device_id": device.device_id,
        "payload_format": device.payload_format,
        "format_label": PAYLOAD_FORMAT_LABELS.get(device.payload_format, device.payload_format),
        "broker": broker,
        "username": username,
        "password": password,
        "accounts": broker_administration_configured(),
        "topics": device_topics(device),
        "publish_root": device_publish_root(device),
    }
    if device.payload_format == TASMOTA:
        return _tasmota(device, broker, username, shown_password, common)
    if device.payload_format == SHELLY_GEN2:
        return _shelly(device, broker, username, shown_password, common)
    if device.payload_format == DSMR_READER:
        return _dsmr(device, broker, username, common)
    return _native(device, broker, username, common)


def meter_heard(device: Device) -> Heard:
    """Until the meter's first message: waiting, on its topics. After: its newest stored reading.
    Either way its latest refused messages, so staff see why one was not taken."""
    topics = device_topics(device)
    dead_letters = tuple(dead_letters_recent(device_id=device.device_id, limit=RECENT_DEAD_LETTERS))
    if device.last_seen is None:
        return Heard(waiting=True, topics=topics, dead_letters=dead_letters)
    reading = reading_latest(device.device_id)
    if reading is None:
        return Heard(waiting=False, topics=topics, dead_letters=dead_letters)
    return Heard(
        waiting=False,
        topics=topics,
        latest=reading_understood(reading),
        latest_at=reading.timestamp,
        dead_letters=dead_letters,
    )


def reading_understood(reading: Reading) -> tuple[tuple[str, str], ...]:
    """The values a stored reading carries, as the panel lists them; "—" for one the format did not send."""
    return (
        ("Energy register", _number(getattr(reading, "energy_kwh", None), "{:,.3f} kWh")),
        ("Power", _number(getattr(reading, "power_w", None), "{:,.0f} W")),
        ("Voltage", _number(getattr(reading, "voltage", None), "{:.1f} V")),
        ("Current", _number(getattr(reading, "current", None), "{:.2f} A")),
        ("Power factor", _number(getattr(reading, "power_factor", None), "{:.2f}")),
    )


def _number(value, pattern: str) -> str:
    if value is None:
        return "—"
    try:
        return pattern.format(float(value))
    except (TypeError, ValueError):
        return "—"


def _server(broker: Broker) -> str:
    return f"{broker.host}:{broker.port}" if broker.host else "(set MQTT_PUBLIC_URL)"


def _tls(broker: Broker) -> str:
    return "yes" if broker.tls else "no"


def _tasmota(device: Device, broker: Broker, username: str, password: str, common: dict) -> Onboarding:
    prefix = settings.MQTT_TASMOTA_PREFIX
    timezone_command, timezone_note = tasmota_timezone(settings.TASMOTA_TIME_ZONE)
    fields = (
        Field("Host", broker.host or "(set MQTT_PUBLIC_URL)"),
        Field("Port", str(broker.port or "")),
        Field("Client", "any", "leave Tasmota's default (DVES_…); it only has to be unique on the broker"),
        Field("User", username),
        Field("Password", password),
        Field("Topic", device.device_id, "the meter id: the broker lets this login publish under it only"),
        Field("Full Topic", "%prefix%/%topic%/", "Tasmota's default"),
    )
    notes = [
        f"Telemetry goes to {prefix}/{device.device_id}/SENSOR: Tasmota's tele prefix (Prefix3) must be "
        f"“{prefix}”"
        + (
            " (its default)."
            if prefix == TASMOTA_DEFAULT_TELE_PREFIX
            else f", not its default “tele”: run Prefix3 {prefix} in the console."
        ),
        f"Send a reading every minute: TelePeriod {TASMOTA_TELE_PERIOD_SECONDS} (Configuration › Logging › "
        "Telemetry period).",
        f"Tasmota reports its local time without an offset; it is read as {settings.TASMOTA_TIME_ZONE}: "
        f"{timezone_note}",
    ]
    if broker.tls:
        notes.append(
            "The broker wants TLS: only a Tasmota build with TLS (most ESP32 builds) can connect; "
            "turn it on with SetOption103 1."
        )
    backlog = [
        f"MqttHost {broker.host or '<host>'}",
        f"MqttPort {broker.port or '<port>'}",
        f"MqttUser {username}",
        f"MqttPassword {password}",
        f"Topic {device.device_id}",
        "FullTopic %prefix%/%topic%/",
    ]
    if prefix != TASMOTA_DEFAULT_TELE_PREFIX:
        backlog.append(f"Prefix3 {prefix}")
    if broker.tls:
        backlog.append("SetOption103 1")
    backlog += [f"TelePeriod {TASMOTA_TELE_PERIOD_SECONDS}", timezone_command]
    return Onboarding(
        **common,
        where="Configuration › Configure MQTT",
        fields=fields,
        notes=tuple(notes),
        commands_title="Or paste into Tools › Console (one line; the device restarts):",
        commands=("Backlog " + "; ".join(backlog),),
    )


def tasmota_timezone(zone_name: str, *, now: datetime | None = None) -> tuple[str, str]:
    """Tasmota's Timezone command for a zone, and a sentence for staff.

    A zone without daylight saving is a fixed offset (``Timezone +05:30``); one with it needs
    Tasmota's rule mode (``Timezone 99`` with TimeStd/TimeDst set to the zone's rules).
    """
    zone = ZoneInfo(zone_name)
    year = (now or datetime.now(UTC)).year
    january = datetime(year, 1, 1, 12, tzinfo=UTC).astimezone(zone).utcoffset()
    july = datetime(year, 7, 1, 12, tzinfo=UTC).astimezone(zone).utcoffset()
    if january == july:
        minutes = int(january.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return f"Timezone {offset}", f"set Timezone {offset} (Configuration › Other, or the console)."
    return "Timezone 99", (
        f"{zone_name} has daylight saving time: set Timezone 99 and TimeStd / TimeDst to its rules in the console."
    )


def _shelly(device: Device, broker: Broker, username: str, password: str, common: dict) -> Onboarding:
    root = device_publish_root(device)
    fields = (
        Field("Enable", "on"),
        Field("Server", _server(broker)),
        Field("Client ID", "any", "the device's default is fine"),
        Field("User", username),
        Field("Password", password),
        Field("MQTT prefix", root, "the broker lets this login publish under it only"),
        Field("RPC status notifications over MQTT", "on", "power and energy arrive this way"),
        Field("Generic status update over MQTT", "on", "status/em:0 and status/emdata:0"),
        Field(
            "SSL/TLS",
            "TLS with the default CA (or your own CA for a private certificate)" if broker.tls else "No TLS",
        ),
    )
    notes = (
        "Save, then reboot the device when it asks.",
        "Leave “Enable RPC over MQTT” and “MQTT Control” off: the product never sends commands, "
        "and the broker gives meters no subscriptions.",
    )
    config = {
        "enable": True,
        "server": _server(broker),
        "user": username,
        "pass": password,
        "topic_prefix": root,
        "rpc_ntf": True,
        "status_ntf": True,
        "ssl_ca": "ca.pem" if broker.tls else None,
    }
    address = "http://<device address>"
    return Onboarding(
        **common,
        where="Settings › MQTT",
        fields=fields,
        notes=notes,
        commands_title="Or from a computer on the device's network (then reboot it):",
        commands=(
            f"curl -X POST {address}/rpc/MQTT.SetConfig -d '{json.dumps({'config': config})}'",
            f"curl -X POST {address}/rpc/Shelly.Reboot",
        ),
    )


def _dsmr(device: Device, broker: Broker, username: str, common: dict) -> Onboarding:
    [json_topic] = device_topics(device)
    fields = (
        Field("Hostname", broker.host or "(set MQTT_PUBLIC_URL)"),
        Field("Port", str(broker.port or "")),
        Field("Secure connection (TLS)", _tls(broker)),
        Field("Username", username),
        Field("Password", common["password"] or PASSWORD_PLACEHOLDER),
        Field("Client ID", "any", "dsmr-reader's default is fine"),
        Field("JSON telegram: enabled", "on", "Configuration › MQTT: JSON telegram"),
        Field("JSON telegram: topic", json_topic, "keep the default field names"),
    )
    notes = (
        "Other dsmr-reader MQTT messages (split topics, day totals) are refused by the broker unless their topic "
        f"starts with {device_publish_root(device)}/: leave them off.",
    )
    return Onboarding(**common, where="Configuration › MQTT: Broker configuration", fields=fields, notes=notes)


def _native(device: Device, broker: Broker, username: str, common: dict) -> Onboarding:
    [topic] = device_topics(device)
    fields = (
        Field("Server", _server(broker)),
        Field("TLS", _tls(broker)),
        Field("Username", username),
        Field("Password", common["password"] or PASSWORD_PLACEHOLDER),
        Field("Topic", topic, "QoS 1"),
    )
    sample = {
        "timestamp": "2025-01-31T18:30:00Z",
        "energy_kwh": 1234.567,
        "power_w": 850.0,
        "voltage": 231.2,
        "current": 3.9,
        "power_factor": 0.95,
        "rssi": -61,
    }
    return Onboarding(
        **common,
        where="the meter's MQTT settings",
        fields=fields,
        notes=("Each message is one JSON reading (docs/ingestion.md#message-format):",),
        sample_payload=json.dumps(sample, indent=2),
    )
