"""A meter's public id and its MQTT telemetry topic, defined once for every part of the product.

Pure (no Django): the telemetry validator, the simulator, the live view, routing and the
models all import these. docs/ingestion.md#message-format describes the topic.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

# 1 to 64 letters, digits, '-' or '_': the id becomes one MQTT topic level and one URL segment.
DEVICE_ID_CHARS = r"[A-Za-z0-9_-]{1,64}"
DEVICE_ID_PATTERN = rf"^{DEVICE_ID_CHARS}$"
DEVICE_ID_RULE = "1 to 64 letters, digits, '-' or '_'"

TELEMETRY_TOPIC_PREFIX = "smartmeter/"
TELEMETRY_TOPIC_SUFFIX = "/telemetry"
TELEMETRY_TOPIC_TEMPLATE = f"{TELEMETRY_TOPIC_PREFIX}<device_id>{TELEMETRY_TOPIC_SUFFIX}"
TELEMETRY_TOPIC_FILTER = f"{TELEMETRY_TOPIC_PREFIX}+{TELEMETRY_TOPIC_SUFFIX}"  # every meter's telemetry

_DEVICE_ID = re.compile(DEVICE_ID_CHARS)
_TELEMETRY_TOPIC = re.compile(
    re.escape(TELEMETRY_TOPIC_PREFIX) + f"({DEVICE_ID_CHARS})" + re.escape(TELEMETRY_TOPIC_SUFFIX)
)


def is_device_id(value: object) -> bool:
    """True for a string that some meter could have as its id (NUL, '/', '+', non-ASCII: never)."""
    return isinstance(value, str) and _DEVICE_ID.fullmatch(value) is not None


def telemetry_topic(device_id: str) -> str:
    """The topic a meter publishes its readings to."""
    return f"{TELEMETRY_TOPIC_PREFIX}{device_id}{TELEMETRY_TOPIC_SUFFIX}"


def device_id_from_topic(topic: object) -> str | None:
    """The meter a telemetry topic names, or None when the topic is not a telemetry topic of a valid id."""
    if not isinstance(topic, str):
        return None
    match = _TELEMETRY_TOPIC.fullmatch(topic)
    return match.group(1) if match else None


# --- payload formats -----------------------------------------------------------------------
# A meter speaks one format, chosen when it is provisioned (docs/ingestion.md#payload-formats).
# Each format has its own topic layout; the meter's id is always the level after the prefix.

NATIVE = "native"
TASMOTA = "tasmota"
SHELLY_GEN2 = "shelly-gen2"
DSMR_READER = "dsmr-reader"
PAYLOAD_FORMATS = (NATIVE, TASMOTA, SHELLY_GEN2, DSMR_READER)
PAYLOAD_FORMAT_LABELS = {
    NATIVE: "smartmeter JSON",
    TASMOTA: "Tasmota energy monitor",
    SHELLY_GEN2: "Shelly Gen2/Gen3 (Pro 3EM, Pro EM, EM)",
    DSMR_READER: "DSMR reader (P1 port, dsmr-reader JSON telegram)",
}

# Shelly components carrying power (em, em1) and energy registers (emdata, em1data).
SHELLY_POWER_COMPONENTS = ("em:0", "em1:0")
SHELLY_ENERGY_COMPONENTS = ("emdata:0", "em1data:0")
SHELLY_EVENTS_SUFFIX = "events/rpc"


@dataclass(frozen=True, slots=True)
class TopicPrefixes:
    """The first topic level(s) of each device format (settings MQTT_TASMOTA_PREFIX and friends)."""

    tasmota: str = "tele"
    shelly: str = "shelly"
    dsmr: str = "dsmr"

    def problems(self) -> list[str]:
        """What makes these prefixes unusable (empty, wildcards, clashing): empty when fine."""
        found = []
        named = {"MQTT_TASMOTA_PREFIX": self.tasmota, "MQTT_SHELLY_PREFIX": self.shelly, "MQTT_DSMR_PREFIX": self.dsmr}
        for name, prefix in named.items():
            levels = prefix.split("/")
            if not prefix or any(not level or level in ("+", "#") or "+" in level or "#" in level for level in levels):
                found.append(f"{name} {prefix!r} must be one or more topic levels without wildcards or empty levels")
            if levels[0].startswith("$"):
                found.append(f"{name} {prefix!r} must not start with '$' (reserved by brokers)")
        roots = [TELEMETRY_TOPIC_PREFIX.rstrip("/"), *named.values()]
        if len(set(roots)) != len(roots):
            found.append("MQTT_TASMOTA_PREFIX, MQTT_SHELLY_PREFIX, MQTT_DSMR_PREFIX and 'smartmeter' must differ")
        # A meter may publish under <prefix>/<its id>/#: were one prefix the start of another, a meter
        # whose id is the next level would be allowed the other format's topics of every meter.
        named_roots = {"smartmeter": TELEMETRY_TOPIC_PREFIX.rstrip("/"), **named}
        for outer_name, outer in named_roots.items():
            for inner_name, inner in named_roots.items():
                if inner.startswith(outer + "/"):
                    found.append(f"{inner_name} {inner!r} must not start with {outer_name} {outer!r}")
        return found


DEFAULT_PREFIXES = TopicPrefixes()


class TopicRoute(NamedTuple):
    """What a topic says: the format it belongs to, the meter, and the rest of the topic after the meter id."""

    payload_format: str
    device_id: str
    rest: str


def meter_topics(payload_format: str, device_id: str, prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> tuple[str, ...]:
    """The topics (filters) a meter of this format publishes its data on."""
    if payload_format == TASMOTA:
        return (f"{prefixes.tasmota}/{device_id}/SENSOR",)
    if payload_format == SHELLY_GEN2:
        root = f"{prefixes.shelly}/{device_id}"
        components = (*SHELLY_POWER_COMPONENTS, *SHELLY_ENERGY_COMPONENTS)
        return (*(f"{root}/status/{component}" for component in components), f"{root}/{SHELLY_EVENTS_SUFFIX}")
    if payload_format == DSMR_READER:
        return (f"{prefixes.dsmr}/{device_id}/json",)
    return (telemetry_topic(device_id),)


def meter_publish_root(payload_format: str, device_id: str, prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> str:
    """The topic a device of this format is told to use as its own (Tasmota's Topic sits inside it,
    Shelly's "MQTT prefix" and dsmr-reader's JSON topic are set to it); the broker lets the meter
    publish under it and nowhere else."""
    if payload_format == TASMOTA:
        return f"{prefixes.tasmota}/{device_id}"
    if payload_format == SHELLY_GEN2:
        return f"{prefixes.shelly}/{device_id}"
    if payload_format == DSMR_READER:
        return f"{prefixes.dsmr}/{device_id}"
    return f"{TELEMETRY_TOPIC_PREFIX}{device_id}"


def ingest_topic_filters(prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> tuple[str, ...]:
    """Every topic filter the ingestion consumer subscribes to: all formats' meter data."""
    return tuple(topic.replace("/<id>/", "/+/") for topic in _topic_templates(prefixes))


def _topic_templates(prefixes: TopicPrefixes) -> tuple[str, ...]:
    return tuple(
        topic for payload_format in PAYLOAD_FORMATS for topic in meter_topics(payload_format, "<id>", prefixes)
    )


def route_topic(topic: object, prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> TopicRoute | None:
    """The format and meter a data topic belongs to, or None when it is no meter's data topic."""
    if not isinstance(topic, str):
        return None
    return _route_cached(topic, prefixes)


@lru_cache(maxsize=65_536)  # every message of a meter has the same few topics
def _route_cached(topic: str, prefixes: TopicPrefixes) -> TopicRoute | None:
    if topic.startswith(TELEMETRY_TOPIC_PREFIX):
        device_id = device_id_from_topic(topic)
        return TopicRoute(NATIVE, device_id, "telemetry") if device_id else None
    for payload_format, prefix in (
        (TASMOTA, prefixes.tasmota),
        (SHELLY_GEN2, prefixes.shelly),
        (DSMR_READER, prefixes.dsmr),
    ):
        if not topic.startswith(prefix + "/"):
            continue
        device_id, _, rest = topic[len(prefix) + 1 :].partition("/")
        if not _DEVICE_ID.fullmatch(device_id) or rest not in _ROUTE_SUFFIXES[payload_format]:
            return None
        return TopicRoute(payload_format, device_id, rest)
    return None


def topic_device_id(topic: object, prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> str | None:
    """The meter a data topic of any format names, or None."""
    route = route_topic(topic, prefixes)
    return route.device_id if route else None


_ROUTE_SUFFIXES = {
    TASMOTA: frozenset({"SENSOR"}),
    SHELLY_GEN2: frozenset(
        {*(f"status/{c}" for c in (*SHELLY_POWER_COMPONENTS, *SHELLY_ENERGY_COMPONENTS)), SHELLY_EVENTS_SUFFIX}
    ),
    DSMR_READER: frozenset({"json"}),
}
