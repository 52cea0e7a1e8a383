"""Plain building blocks of the ingestion pipeline, shared by the consumer and its tests.

- `TelemetryMessage`: one received message, free of any MQTT client type;
- `DeviceDirectory`: the registered meters validation asks about, cached for a few
  seconds and refreshed with one query per batch (never one per message);
- `Retrier`: how a durable step is retried. Outages (lost connection, locked
  database, broker of the store gone) are retried with back-off until they pass or
  the process is asked to stop; errors caused by the data itself are reported at
  once so the batch can be split and the culprit dead-lettered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import DataError, IntegrityError

from devices.models import Device
from readings.validation import DeviceInfo

logger = logging.getLogger("smartmeter.ingest")


class ReceivedMessage(Protocol):
    """What ingestion needs of a received message (the consumer passes its MQTT messages as they are).

    MQTT messages also carry `mid` (packet id), `qos` and `redelivered` (the DUP flag);
    ingestion reads them where present to recognise redelivered packets without a
    timestamp (readings.redelivery).
    """

    topic: str | bytes
    payload: bytes
    received_at: datetime  # aware


@dataclass(frozen=True, slots=True)
class TelemetryMessage:
    topic: str | bytes
    payload: bytes
    received_at: datetime  # aware
    mid: int = 0  # MQTT packet id; 0 = none (QoS 0, or not from MQTT)
    qos: int = 1
    redelivered: bool = False


class ShutdownRequested(Exception):  # noqa: N818 - a signal, not an error
    """A retried step gave up because the process is stopping; nothing was acknowledged."""


def is_data_error(exc: BaseException) -> bool:
    """True when the failure is caused by the values written, not by the store being unavailable.

    Only these lead to splitting a batch and dead-lettering the reading that fails alone;
    everything else (connection lost, database locked, a missing table after a bad
    deploy, ...) is treated as an outage and retried, so data is never discarded because
    of an infrastructure problem.
    """
    if isinstance(exc, DataError | IntegrityError | ValueError | TypeError | OverflowError):
        return True
    try:
        from bson.errors import InvalidDocument
        from pymongo.errors import DocumentTooLarge, WriteError
    except ImportError:  # pragma: no cover - pymongo is a runtime dependency
        return False
    if isinstance(exc, InvalidDocument | DocumentTooLarge):
        return True
    # A bulk write error carries per-document errors; 11000 (duplicate key) never reaches here.
    return isinstance(exc, WriteError) and not getattr(exc, "timeout", False)


@dataclass
class Retrier:
    """Run a durable step until it succeeds.

    `stop` is polled between attempts: once set, the step is abandoned after `grace`
    seconds of further failures by raising ShutdownRequested (the messages stay
    unacknowledged and the broker redelivers them to the next consumer).
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    stop: threading.Event = field(default_factory=threading.Event)
    grace: float = 10.0
    on_failure: Callable[[str, BaseException, int], None] | None = None
    sleep: Callable[[float], None] | None = None

    def run[R](self, step: Callable[[], R], *, what: str) -> R:
        delay = self.initial_delay
        attempt = 0
        stop_seen_at: float | None = None
        while True:
            attempt += 1
            try:
                return step()
            except Exception as exc:
                if is_data_error(exc):
                    raise
                if self.on_failure is not None:
                    self.on_failure(what, exc, attempt)
                logger.warning(
                    "%s failed (attempt %d), retrying in %.1f s: %s", what, attempt, delay, exc, exc_info=attempt == 1
                )
                _reset_database_connection()
                if self.stop.is_set():
                    stop_seen_at = stop_seen_at or time.monotonic()
                    if time.monotonic() - stop_seen_at >= self.grace:
                        raise ShutdownRequested(what) from exc
                self._pause(delay)
                delay = min(delay * 2, self.max_delay)

    def _pause(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.stop.is_set():
            time.sleep(min(seconds, 1.0))  # stopping: keep trying through the grace period
        else:
            self.stop.wait(seconds)


def run_once[R](step: Callable[[], R], *, what: str) -> R:  # noqa: ARG001 - same shape as Retrier.run
    return step()


def _reset_database_connection() -> None:
    # A connection that failed mid-query may be unusable; Django reopens it on next use.
    from django.db import connection

    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may itself fail; reopening fixes it
        logger.debug("closing the failed database connection raised", exc_info=True)


class DeviceDirectory:
    """Registered meters by public id, as validation needs them; entries live `ttl` seconds.

    A meter registered or decommissioned while the consumer runs is seen within `ttl`.
    Unknown ids are cached too (as absent), so a flood from an unregistered meter costs
    no queries.
    """

    def __init__(self, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, DeviceInfo | None]] = {}

    def prefetch(self, device_ids: Iterable[str]) -> None:
        """Load every id not cached (or expired) with a single query."""
        now = self._clock()
        wanted = {device_id for device_id in device_ids if self._expired(device_id, now)}
        if not wanted:
            return
        found = {
            device_id: DeviceInfo(device_id, decommissioned=status == Device.Status.DECOMMISSIONED, location=location)
            for device_id, status, location in Device.objects.filter(device_id__in=wanted).values_list(
                "device_id", "status", "location"
            )
        }
        for device_id in wanted:
            self._entries[device_id] = (now, found.get(device_id))
        if len(self._entries) > 200_000:  # a flood of random ids must not grow memory without bound
            self._entries = {key: value for key, value in self._entries.items() if value[1] is not None}

    def lookup(self, device_id: str) -> DeviceInfo | None:
        """The cached answer; only an id never seen is fetched here (call `prefetch` per batch)."""
        entry = self._entries.get(device_id)
        if entry is None:
            self.prefetch([device_id])
            entry = self._entries[device_id]
        return entry[1]

    def forget(self) -> None:
        self._entries.clear()

    def _expired(self, device_id: str, now: float) -> bool:
        entry = self._entries.get(device_id)
        return entry is None or now - entry[0] >= self.ttl
