"""Helpers shared by the live-power tests: publish telemetry to the real broker."""

import json
import time
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt


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


def publish(
    broker: tuple[str, int], device_id: str, payload: dict | bytes, *, retain: bool = False, topic: str = ""
) -> float:
    """Publish one message (QoS 1, so it has reached the broker on return); returns the send time.

    With `retain` the broker also keeps it for future subscribers: clear it with `retained_clear`.
    """
    host, port = broker
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-publisher-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    try:
        sent_at = time.monotonic()
        topic = topic or f"smartmeter/{device_id}/telemetry"
        client.publish(topic, body, qos=1, retain=retain).wait_for_publish(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent_at


def retained_clear(broker: tuple[str, int], device_id: str) -> None:
    """Remove a meter topic's retained message (an empty retained payload), so no later test gets it."""
    publish(broker, device_id, b"", retain=True)
