"""Live readings for the browsers watching a meter.

Each web process watches just the meters its WebSockets show, through the broker seam's
`TelemetryWatcher`, and sends every reading that passes validation to the channel group
``live.<device_id>``; with Redis, a shared subscription makes each reading reach a browser
once. The long story: docs/dashboard.md#live-power-from-the-meter-to-the-browser.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from channels.layers import get_channel_layer
from django.conf import settings

from devices.identity import NATIVE, meter_topics
from devices.topics import topic_prefixes
from readings.ingestion.mqtt import BrokerSettings, MqttConfigError, TelemetryWatcher, WatchedMessage
from readings.ingestion.validation import DeviceInfo, Ignored, Rejection, parse_telemetry
from readings.types import PowerSample, Reading

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 3.0


def live_group_name(device_id: str) -> str:
    """The channel group a meter's live readings are sent to (the WebSockets join it)."""
    return f"live.{device_id}"


def live_message(reading: Reading | PowerSample) -> dict:
    """The channel-layer event for one reading or power sample (energy_kwh null); also what the browser receives."""
    return {
        "type": "reading.live",
        "reading": {
            "device_id": reading.device_id,
            "timestamp": reading.timestamp.astimezone(UTC).isoformat(),
            "power_w": reading.power_w,
            "voltage": reading.voltage,
            "current": reading.current,
            "power_factor": reading.power_factor,
            "energy_kwh": getattr(reading, "energy_kwh", None),
        },
    }


class LiveFanout:
    """One broker connection per web process, shared by every live WebSocket in it."""

    def __init__(self, *, shared_group: str = "", client_id_prefix: str = "smartmeter-web"):
        self._shared_group = shared_group
        self._client_id_prefix = client_id_prefix
        self._lock = threading.Lock()
        self._watchers: dict[str, int] = defaultdict(int)
        self._formats: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: TelemetryWatcher | None = None
        self.connected = threading.Event()

    # --- used by the WebSocket consumers (on the server's event loop) ---------

    async def watch(self, device_id: str, payload_format: str = NATIVE) -> bool:
        """Start receiving a meter's readings; True once the broker confirmed the subscription.

        False means the broker is not reachable yet: the meter stays watched and is
        subscribed as soon as the connection comes up.
        """
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._watchers[device_id] += 1
            self._formats[device_id] = payload_format
            if self._watchers[device_id] > 1:
                return True
            start = self._watcher is None
            if start:
                self._watcher = self._watcher_build()
            watcher = self._watcher
            if watcher is None:
                return False
            # Answers once a SUBSCRIBE carrying this meter is confirmed on a live connection;
            # connected alone is not enough (a reading published in between would be missed).
            confirmation = watcher.watch(device_id, meter_topics(payload_format, device_id, topic_prefixes()))
        if start and not await asyncio.to_thread(self._watcher_start, watcher):
            return False
        if not self.connected.is_set() and not await asyncio.to_thread(self.connected.wait, SUBSCRIBE_TIMEOUT_SECONDS):
            return False
        try:
            confirmed = await asyncio.wait_for(asyncio.wrap_future(confirmation), SUBSCRIBE_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("live subscription not confirmed in time", extra={"device_id": device_id})
            return False
        return confirmed

    async def unwatch(self, device_id: str) -> None:
        with self._lock:
            if self._watchers.get(device_id, 0) <= 0:
                return
            self._watchers[device_id] -= 1
            if self._watchers[device_id]:
                return
            del self._watchers[device_id]
            self._formats.pop(device_id, None)
            if self._watcher is not None:
                self._watcher.unwatch(device_id)

    def watched(self) -> dict[str, int]:
        with self._lock:
            return dict(self._watchers)

    def close(self) -> None:
        """Stop the broker connection (tests and process shutdown)."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
            self._watchers.clear()
        if watcher is not None:
            watcher.stop()
        self.connected.clear()

    # --- the broker side -------------------------------------------------------

    def _watcher_build(self) -> TelemetryWatcher | None:
        """A watcher for LIVE_MQTT_URL (MQTT_URL unless the live view has its own broker login;
        None when its settings are unusable: logged, nothing to retry)."""
        try:
            broker = BrokerSettings.from_settings(settings.LIVE_MQTT_URL)
        except MqttConfigError as error:
            logger.error("live power disabled: %s", error)
            return None
        return TelemetryWatcher(
            broker,
            client_id=f"{self._client_id_prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            on_message=self._on_message,
            on_state=self._on_state,
            shared_group=self._shared_group,
        )

    def _watcher_start(self, watcher: TelemetryWatcher) -> bool:
        """Connect (blocks on the network to probe the broker: never on the event loop)."""
        try:
            watcher.start()
        except MqttConfigError as error:
            logger.error("live power disabled: %s", error)
            with self._lock:
                if self._watcher is watcher:
                    self._watcher = None
            watcher.stop()
            return False
        return True

    def _on_state(self, connected: bool, detail: str) -> None:
        # The watcher's thread: it resubscribes the watched meters itself after a reconnect.
        if connected:
            self.connected.set()
        else:
            self.connected.clear()
        logger.info("live MQTT %s", detail, extra={"watched": len(self.watched())})

    def _on_message(self, message: WatchedMessage) -> None:
        if message.retained:
            # The broker's stored copy, replayed because this process just subscribed: an old
            # (or planted) reading, not live power. MQTT v5 subscriptions never get one; the
            # MQTT 3.1.1 broker of the embedded run does. docs/dashboard.md#retained-messages
            logger.debug("retained message ignored", extra={"topic": str(message.topic)[:255]})
            return
        reading = parse_telemetry(
            topic=message.topic,
            payload=message.payload,
            received_at=message.received_at,
            device_lookup=self._watched_device,
            backfill=timedelta(days=settings.INGEST_BACKFILL_DAYS),
            max_bytes=settings.INGEST_MAX_PAYLOAD_BYTES,
            prefixes=topic_prefixes(),
            local_zone=ZoneInfo(settings.TASMOTA_TIME_ZONE),
        )
        if isinstance(reading, Rejection | Ignored):
            # The ingestion consumer records the rejection; a browser just never sees it.
            logger.debug("live message not shown: %s", getattr(reading, "message", "") or getattr(reading, "why", ""))
            return
        with self._lock:
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        if reading.power_w is None:
            return  # a register without power (a Shelly's emdata:0): nothing live to show
        event = live_message(reading)
        asyncio.run_coroutine_threadsafe(
            get_channel_layer().group_send(live_group_name(reading.device_id), event), loop
        )

    def _watched_device(self, device_id: str) -> DeviceInfo | None:
        # Only meters a signed-in owner or staff member is watching are subscribed, and the
        # WebSocket checked them against the registry; anything else is not ours to show.
        with self._lock:
            if device_id not in self._watchers:
                return None
            return DeviceInfo(device_id=device_id, payload_format=self._formats.get(device_id, NATIVE))


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
