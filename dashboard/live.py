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

The broker connection comes from readings.ingestion.mqtt (MQTT_URL, credentials, TLS, and
the protocol the broker speaks), the one module that knows paho-mqtt.
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

from channels.layers import get_channel_layer
from django.conf import settings

from readings.ingestion.mqtt import (
    KEEPALIVE_SECONDS,
    MQTT_V5,
    BrokerSettings,
    MqttConfigError,
    broker_probe,
    mqtt_client,  # the broker seam's client factory: paho stays in readings.ingestion.mqtt
)
from readings.ingestion.validation import DeviceInfo, Rejection, parse_telemetry

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
        self._starting = False
        self.connected = threading.Event()

    # --- used by the WebSocket consumers (on the server's event loop) ---------

    async def watch(self, device_id: str) -> bool:
        """Start receiving a meter's readings; True once the broker confirmed the subscription.

        False means the broker is not reachable yet: the meter stays watched and is
        subscribed as soon as the connection comes up.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            self._watchers[device_id] += 1
            if self._watchers[device_id] > 1:
                return True
            start = self._client is None and not self._starting
            self._starting = self._starting or start
        if start:
            # Probing the broker blocks on the network: never on the event loop.
            client = await asyncio.to_thread(self._start_client)
            with self._lock:
                self._client, self._starting = client, False
        with self._lock:
            future = self._subscribe_locked(device_id, loop) if self._client is not None else None
        if future is None:
            # Not connected yet: on_connect subscribes every watched meter once the
            # connection is up, and a connection alone does not mean the broker has the
            # subscription. Subscribe once more after connecting and wait for that SUBACK:
            # the broker answers in order, so the on_connect subscription is in place too.
            # (Subscribing to the same filter twice only replaces it.)
            if not await asyncio.to_thread(self.connected.wait, SUBSCRIBE_TIMEOUT_SECONDS):
                return False
            with self._lock:
                if device_id not in self._watchers:
                    return False
                future = self._subscribe_locked(device_id, loop) if self._client is not None else None
            if future is None:
                return False
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
        """A connecting client for MQTT_URL (None when its settings are unusable: logged, nothing to retry)."""
        try:
            broker = BrokerSettings.from_settings()
            # MQTT 5 where the broker speaks it; the embedded amqtt broker only speaks 3.1.1.
            protocol = broker_probe(broker, timeout=2.0) or MQTT_V5
        except MqttConfigError as error:
            logger.error("live power disabled: %s", error)
            return None
        client_id = f"{self._client_id_prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # A throwaway session (QoS 0, nothing queued while away): live data is best effort.
        client = mqtt_client(broker, client_id=client_id, protocol=protocol, persistent=False)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        # paho's thread connects, and reconnects with back-off after a broker restart.
        if protocol == MQTT_V5:
            client.connect_async(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS, clean_start=True)
        else:
            client.connect_async(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
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
