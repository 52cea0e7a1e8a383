"""Helpers shared by the live-power tests: publish telemetry to the real broker."""

import json
import time
import uuid
from datetime import UTC, datetime

import paho.mqtt.publish as mqtt_publish


def unique_device_id(prefix: str = "live") -> str:
    """Tests share the machine's broker: a fresh id keeps each test's topic to itself."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def telemetry(*, power_w: float = 1234.5, voltage: float = 231.2, current: float = 5.4, **extra) -> dict:
    payload = {
        "voltage": voltage,
        "current": current,
        "power_w": power_w,
        "energy_kwh": 1042.125,
        "power_factor": 0.97,
        "rssi": -58,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    payload.update(extra)
    return payload


def publish(broker: tuple[str, int], device_id: str, payload: dict | bytes) -> float:
    """Publish one message (QoS 1, so it has reached the broker on return); returns the send time."""
    host, port = broker
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent_at = time.monotonic()
    mqtt_publish.single(f"smartmeter/{device_id}/telemetry", body, qos=1, hostname=host, port=port)
    return sent_at
