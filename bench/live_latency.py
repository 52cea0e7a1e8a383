"""Live power latency: meter publish -> broker -> web process fan-out -> channel group.

    .venv/bin/python bench/live_latency.py [--messages 200] [--broker 127.0.0.1:1883] [--redis redis://127.0.0.1:6379/15]

Publishes readings for one meter (QoS 0, as meters publishing live data would be
seen by the web tier) and times each one until it arrives in the channel group
``live.<device_id>`` that the meter's WebSockets listen on, one message at a time.
With --redis the channel layer is channels-redis and the fan-out joins the shared
subscription, as in production; without it, the in-memory layer of `make run`.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.identity import telemetry_topic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--broker", default="127.0.0.1:1883")
    parser.add_argument("--redis", default="", help="channels-redis URL (default: in-memory layer)")
    args = parser.parse_args()

    host, _, port = args.broker.partition(":")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
    os.environ["MQTT_URL"] = f"mqtt://{host}:{port or 1883}"
    os.environ["REDIS_URL"] = args.redis
    import django

    django.setup()
    latencies = asyncio.run(_measure(host, int(port or 1883), args.messages, shared=bool(args.redis)))
    latencies.sort()
    layer = "channels-redis + shared subscription" if args.redis else "in-memory layer"
    print(
        f"{len(latencies)} readings, {layer}: p50 {statistics.median(latencies):.2f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.2f} ms, max {latencies[-1]:.2f} ms"
    )


async def _measure(host: str, port: int, messages: int, *, shared: bool) -> list[float]:
    import paho.mqtt.client as mqtt
    from channels.layers import get_channel_layer
    from django.conf import settings

    from dashboard.live import LiveFanout, live_group_name

    layer = get_channel_layer()
    device_id = f"bench-{uuid.uuid4().hex[:10]}"
    channel = await layer.new_channel()
    await layer.group_add(live_group_name(device_id), channel)
    fanout = LiveFanout(shared_group=settings.LIVE_MQTT_SHARED_GROUP if shared else "")
    assert await fanout.watch(device_id), "the broker did not confirm the subscription"

    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-meter-{uuid.uuid4().hex[:8]}")
    publisher.connect(host, port)
    publisher.loop_start()
    latencies = []
    try:
        for n in range(messages):
            payload = {
                "voltage": 230.0,
                "current": 4.2,
                "power_w": float(n),
                "energy_kwh": 1000.0 + n / 1000,
                "power_factor": 0.95,
                "rssi": -60,
                "timestamp": datetime.now(UTC).isoformat(),
            }
            started = time.perf_counter()
            publisher.publish(telemetry_topic(device_id), json.dumps(payload), qos=0)
            message = await asyncio.wait_for(layer.receive(channel), 5)
            latencies.append((time.perf_counter() - started) * 1000)
            assert message["reading"]["power_w"] == float(n)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        fanout.close()
    return latencies


if __name__ == "__main__":
    main()
