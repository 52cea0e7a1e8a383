"""Live readings for the browsers watching a meter (DESIGN decision 7).

The ingestion consumer never pushes to browsers. Instead each web process keeps
one MQTT connection and subscribes to the telemetry topic of just the meters
its WebSockets are watching: subscribe on the first watcher, unsubscribe when
the last one leaves. A message that passes validation is sent to the channel
group ``live.<device_id>``.

- Without Redis every web process has its own in-memory channel layer and its
  own subscriptions, so live power works across separate processes (the
  consumer, the simulator and the web server) with no extra server.
- With ``REDIS_URL`` the channel layer is shared. Each web process then joins
  the MQTT shared subscription ``$share/<LIVE_MQTT_SHARED_GROUP>/...``: the
  broker hands each message to exactly one of the processes watching that meter,
  and that one fans it out through Redis to every browser, wherever it is
  connected. No browser receives a reading twice.

Live updates are best effort (QoS 0, no session): a reading missed while a
socket reconnects is still stored by the consumer and shows up in the charts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from channels.layers import get_channel_layer
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from readings.validation import DeviceInfo, Rejection, parse_telemetry

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 3.0


def live_group_name(device_id: str) -> str:
    """The channel group a meter's live readings are sent to (a TEAM.md contract)."""
    return f"live.{device_id}"


def telemetry_topic(device_id: str) -> str:
    return f"smartmeter/{device_id}/telemetry"


def live_message(reading) -> dict:
    """The channel-layer event for one reading; also what the browser receives."""
    return {
        "type": "reading.live",
        "reading": {
            "device_id": reading.device_id,
            "timestamp": reading.timestamp.astimezone(UTC).isoformat(),
            "power_w": reading.power_w,
            "voltage": reading.voltage,
            "current": reading.current,
            "power_factor": reading.power_factor,
            "energy_kwh": reading.energy_kwh,
        },
    }


class LiveFanout:
    """One MQTT connection per web process, shared by every live WebSocket in it."""

    def __init__(self, *, shared_group: str = "", client_id_prefix: str = "smartmeter-web"):
        self._shared_group = shared_group
        self._client_id_prefix = client_id_prefix
        self._lock = threading.Lock()
        self._watchers: dict[str, int] = defaultdict(int)
        self._pending: dict[int, asyncio.Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None
        self.connected = threading.Event()

    # --- used by the WebSocket consumers (on the server's event loop) ---------

    async def watch(self, device_id: str) -> bool:
        """Start receiving a meter's readings; True once the broker confirmed the subscription."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            self._watchers[device_id] += 1
            first = self._watchers[device_id] == 1
            if self._client is None:
                self._client = self._start_client()
            if not first:
                return True
            future = self._subscribe_locked(device_id, loop)
        if future is None:
            # Not connected yet: on_connect subscribes every watched meter.
            return await asyncio.to_thread(self.connected.wait, SUBSCRIBE_TIMEOUT_SECONDS)
        try:
            await asyncio.wait_for(future, SUBSCRIBE_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("live subscription not confirmed in time", extra={"device_id": device_id})
            return False
        return True

    async def unwatch(self, device_id: str) -> None:
        with self._lock:
            if self._watchers.get(device_id, 0) <= 0:
                return
            self._watchers[device_id] -= 1
            if self._watchers[device_id]:
                return
            del self._watchers[device_id]
            if self._client is not None:
                self._client.unsubscribe(self._topic_filter(device_id))

    def watched(self) -> dict[str, int]:
        with self._lock:
            return dict(self._watchers)

    def close(self) -> None:
        """Stop the MQTT connection (tests and process shutdown)."""
        with self._lock:
            client, self._client = self._client, None
            self._watchers.clear()
            self._pending.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()

    # --- MQTT side (paho's network thread) ------------------------------------

    def _topic_filter(self, device_id: str) -> str:
        topic = telemetry_topic(device_id)
        return f"$share/{self._shared_group}/{topic}" if self._shared_group else topic

    def _subscribe_locked(self, device_id: str, loop) -> asyncio.Future | None:
        if not self.connected.is_set():
            return None
        result, mid = self._client.subscribe(self._topic_filter(device_id), qos=0)
        if result != 0 or mid is None:
            return None
        future = loop.create_future()
        self._pending[mid] = future
        return future

    def _start_client(self):
        client_id = f"{self._client_id_prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        client, host, port = _client_build(client_id=client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        # Non-blocking: paho's thread connects, and reconnects with back-off after a broker restart.
        client.connect_async(host, port, keepalive=30, clean_start=True)
        client.loop_start()
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            logger.warning("live MQTT connection refused: %s", reason_code)
            return
        with self._lock:
            topics = [(self._topic_filter(device_id), 0) for device_id in self._watchers]
            self.connected.set()
            if topics:
                client.subscribe(topics)
        logger.info("live MQTT connected", extra={"watched": len(topics)})

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.connected.clear()
        logger.info("live MQTT disconnected: %s", reason_code)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        with self._lock:
            future = self._pending.pop(mid, None)
            loop = self._loop
        if future is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, future)

    def _on_message(self, client, userdata, message):
        reading = parse_telemetry(
            topic=message.topic,
            payload=message.payload,
            received_at=datetime.now(UTC),
            device_lookup=self._watched_device,
            backfill=timedelta(days=settings.INGEST_BACKFILL_DAYS),
            max_bytes=settings.INGEST_MAX_PAYLOAD_BYTES,
        )
        if isinstance(reading, Rejection):
            # The ingestion consumer records the rejection; a browser just never sees it.
            logger.debug("live reading rejected: %s", reading.message)
            return
        with self._lock:
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        event = live_message(reading)
        asyncio.run_coroutine_threadsafe(
            get_channel_layer().group_send(live_group_name(reading.device_id), event), loop
        )

    def _watched_device(self, device_id: str) -> DeviceInfo | None:
        # Only meters a signed-in owner or staff member is watching are subscribed, and the
        # WebSocket checked them against the registry; anything else is not ours to show.
        with self._lock:
            return DeviceInfo(device_id=device_id) if device_id in self._watchers else None


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(True)


def _client_build(*, client_id: str) -> tuple[mqtt.Client, str, int]:
    """A paho client for MQTT_URL (mqtt:// or mqtts://, optional user:password, TLS files)."""
    url = urlsplit(settings.MQTT_URL)
    if url.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, got {url.scheme!r}")
    tls = url.scheme in {"mqtts", "ssl"}
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    if url.username:
        client.username_pw_set(unquote(url.username), unquote(url.password) if url.password else None)
    if tls:
        client.tls_set(
            ca_certs=settings.MQTT_CA_FILE or None,
            certfile=settings.MQTT_CLIENT_CERT or None,
            keyfile=settings.MQTT_CLIENT_KEY or None,
        )
    return client, url.hostname or "127.0.0.1", url.port or (8883 if tls else 1883)


_fanout: LiveFanout | None = None
_fanout_lock = threading.Lock()


def live_fanout() -> LiveFanout:
    """The process-wide fan-out, created on first use."""
    global _fanout
    with _fanout_lock:
        if _fanout is None:
            _fanout = LiveFanout(shared_group=settings.LIVE_MQTT_SHARED_GROUP)
        return _fanout


def live_fanout_reset() -> None:
    """Close the process-wide fan-out (tests, shutdown); the next use reconnects."""
    global _fanout
    with _fanout_lock:
        fanout, _fanout = _fanout, None
    if fanout is not None:
        fanout.close()
