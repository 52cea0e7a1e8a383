"""A meter's public id and its MQTT telemetry topic, defined once for every part of the product.

Pure (no Django): the telemetry validator, the simulator, the live view, routing and the
models all import these. docs/ingestion.md#message-format describes the topic.
"""

import re

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
