"""The ingestion consumer: broker -> bounded queue -> writer thread -> store -> ack.

paho's network thread only enqueues; the writer thread stores each batch, then acknowledges
it; the main thread handles SIGTERM/SIGINT and the heartbeat. Why, and what stopping
guarantees: docs/ingestion.md#batching-and-backpressure, docs/ingestion.md#running-it.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection

from ops import metrics
from ops.services import heartbeat_record
from readings.ingestion.batch import readings_ingest_batch
from readings.ingestion.directory import DeviceDirectory
from readings.ingestion.joins import PowerJoin
from readings.ingestion.mqtt import BrokerSettings, InboundMessage, TelemetrySubscriber, broker_probe
from readings.ingestion.retry import Retrier, ShutdownRequested

logger = logging.getLogger("smartmeter.consumer")

HEARTBEAT_NAME = "mqtt_consumer"
CONNECTION_CHECK_EVERY = 30.0  # seconds between close_old_connections() in the writer


@dataclass(frozen=True)
class ConsumerOptions:
    client_id: str
    topic: str
    batch_size: int
    batch_max_age: float
    receive_maximum: int
    session_expiry: int
    shared_group: str = ""
    heartbeat_every: float = 10.0
    stop_grace: float = 10.0
    # Every format's topic filters (devices.identity.ingest_topic_filters); empty: `topic` alone.
    topics: tuple[str, ...] = ()

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return tuple(
            f"$share/{self.shared_group}/{topic}" if self.shared_group else topic
            for topic in self.topics or (self.topic,)
        )

    @property
    def subscription(self) -> str:
        return ", ".join(self.subscriptions)

    @property
    def effective_batch_size(self) -> int:
        return max(1, min(self.batch_size, self.receive_maximum))


class IngestConsumer:
    def __init__(self, *, broker: BrokerSettings, options: ConsumerOptions, store=None):
        self.broker = broker
        self.options = options
        self.store = store
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._queue: queue.Queue[InboundMessage] = queue.Queue(maxsize=max(2 * options.receive_maximum, 100))
        self._directory = DeviceDirectory()
        self._joins = PowerJoin(window=timedelta(seconds=settings.SHELLY_JOIN_WINDOW_SECONDS))
        self._retrier = Retrier(stop=self.stop_event, grace=options.stop_grace, on_failure=self._write_failed)
        self._subscriber: TelemetrySubscriber | None = None
        self._writer_error: BaseException | None = None
        self._connected = False
        self._state_detail = "starting"
        self._store_trouble = ""
        self.stats = {"stored": 0, "duplicates": 0, "rejected": 0, "acked": 0, "batches": 0, "unacked": 0}
        self.stats.update(power_only=0, ignored=0)

    # -- control (main thread, signal handlers) -----------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        if not self.stop_event.is_set():
            logger.info("%s: finishing the batch in hand", reason)
        self.stop_event.set()
        self._wake.set()

    def run(self) -> None:
        protocol = self._wait_for_broker()
        if protocol is None:
            return
        if self.options.shared_group and protocol != 5:
            logger.warning("the broker speaks MQTT 3.1.1 only: shared subscriptions may not be supported")
        self._subscriber = TelemetrySubscriber(
            self.broker,
            client_id=self.options.client_id,
            topic=self.options.subscriptions,
            on_message=self._enqueue,
            session_expiry=self.options.session_expiry,
            receive_maximum=self.options.receive_maximum,
            protocol=protocol,
            on_state=self._state_changed,
        )
        logger.info(
            "consuming %s from %s as %s (MQTT %s, batches of %d or %.2f s, receive maximum %d)",
            self.options.subscription,
            self.broker.describe(),
            self.options.client_id,
            "5" if protocol == 5 else "3.1.1",
            self.options.effective_batch_size,
            self.options.batch_max_age,
            self.options.receive_maximum,
        )
        writer = threading.Thread(target=self._writer_main, name="ingest-writer", daemon=True)
        # Everything loaded so far (Django, the apps, paho) lives as long as the process: keep
        # it out of the garbage collector's full passes, which otherwise rescan ~150,000 such
        # objects over and over while messages stream through (15% of the time, measured).
        gc.freeze()
        self._subscriber.start()
        writer.start()
        try:
            while not self.stop_event.is_set():
                self._wake.wait(self.options.heartbeat_every)
                self._wake.clear()
                self._heartbeat()
                if not writer.is_alive():
                    break
        finally:
            self.request_stop()
            writer.join()
            self._subscriber.stop()
            self._connected = False
            metrics.CONSUMER_CONNECTED.set(0)
            self._state_detail = "stopped"
            self._heartbeat()
            _close_stale_connections(force=True)
        if self._writer_error is not None:
            raise self._writer_error
        logger.info(
            "consumer stopped: %(stored)d stored, %(duplicates)d duplicates, %(rejected)d rejected, "
            "%(acked)d acknowledged, %(unacked)d left for redelivery",
            self.stats,
        )

    def _wait_for_broker(self) -> int | None:
        """Block until a broker answers (the broker may still be starting); None when stopped first."""
        delay = 0.5
        announced = False
        while not self.stop_event.is_set():
            protocol = broker_probe(self.broker, timeout=3.0)  # MqttConfigError: waiting cannot fix it
            if protocol is not None:
                return protocol
            if not announced:
                logger.info("waiting for the MQTT broker at %s", self.broker.describe())
                self._state_detail = f"waiting for the broker at {self.broker.describe()}"
                self._heartbeat()
                announced = True
            self.stop_event.wait(delay)
            delay = min(delay * 2, 10.0)
        return None

    def _heartbeat(self) -> None:
        trouble = f"; {self._store_trouble}" if self._store_trouble else ""
        detail = (
            f"{self._state_detail}{trouble}; stored {self.stats['stored']}, duplicates {self.stats['duplicates']}, "
            f"rejected {self.stats['rejected']}, queued {self._queue.qsize()}"
        )
        try:
            heartbeat_record(name=HEARTBEAT_NAME, connected=self._connected, detail=detail)
        except Exception:  # noqa: BLE001 - a database outage must not stop the consumer; the writer rides it out
            logger.warning("could not record the consumer heartbeat", exc_info=True)
        _close_stale_connections()

    # -- paho's network thread: hand over, never block on I/O ---------------------------

    def _enqueue(self, message: InboundMessage) -> None:
        # Waits only while the writer is behind: backpressure to the broker. Once stopping,
        # messages are left unacknowledged (the broker delivers them again) without waiting.
        while not self.stop_event.is_set():
            try:
                self._queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    def _state_changed(self, connected: bool, detail: str) -> None:
        self._connected = connected
        self._state_detail = detail
        metrics.CONSUMER_CONNECTED.set(1 if connected else 0)
        self._wake.set()  # the main thread records the heartbeat

    # -- writer thread --------------------------------------------------------------------

    def _writer_main(self) -> None:
        try:
            _close_stale_connections()
            checked_at = time.monotonic()
            while not self.stop_event.is_set():
                batch = self._collect()  # on stop: returns the batch in hand at once
                if batch:
                    self._process(batch)
                if time.monotonic() - checked_at >= CONNECTION_CHECK_EVERY:
                    # Like a request boundary, but not per batch: closing (an SQLite connection
                    # checkpoints its WAL) and reopening per batch would cost more than the write.
                    _close_stale_connections()
                    checked_at = time.monotonic()
        except ShutdownRequested as exc:
            logger.warning("stopped while %s kept failing; its messages stay unacknowledged for redelivery", exc)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread, which exits non-zero
            logger.exception("ingest writer failed")
            self._writer_error = exc
        finally:
            self.stats["unacked"] += self._queue.qsize()
            _close_stale_connections(force=True)
            self._wake.set()

    def _collect(self) -> list[InboundMessage]:
        """Up to one batch: flushed when full, `batch_max_age` after its first message, or on stop."""
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        limit = self.options.effective_batch_size
        deadline = time.monotonic() + self.options.batch_max_age
        while len(batch) < limit and not self.stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, 0.2)))
            except queue.Empty:
                continue
            while len(batch) < limit:  # take what is already waiting without a timed wait per message
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
        return batch

    def _process(self, batch: list[InboundMessage]) -> None:
        outcome = readings_ingest_batch(
            messages=batch,
            directory=self._directory,
            store=self.store,
            attempt=self._retrier.run,
            joins=self._joins,
        )
        acked = sum(1 for message in batch if self._subscriber.ack(message))
        if self._store_trouble:
            logger.info("store available again")
            self._store_trouble = ""
            self._wake.set()
        self.stats["stored"] += outcome.stored
        self.stats["duplicates"] += outcome.duplicates
        self.stats["rejected"] += outcome.rejected
        self.stats["power_only"] += outcome.power_only
        self.stats["ignored"] += outcome.ignored
        self.stats["acked"] += acked
        self.stats["batches"] += 1
        if acked < len(batch):
            logger.info(
                "%d of %d messages were delivered on an earlier connection: the broker redelivers them "
                "and they are recognised as duplicates",
                len(batch) - acked,
                len(batch),
            )
        logger.debug(
            "batch of %d: %d stored, %d duplicates, %d rejected",
            len(batch),
            outcome.stored,
            outcome.duplicates,
            outcome.rejected,
        )

    def _write_failed(self, what: str, error: BaseException, attempt: int) -> None:
        metrics.INGEST_WRITE_FAILURES.inc()
        if attempt == 1:
            self._store_trouble = f"store unavailable ({type(error).__name__}), retrying {what}"
            self._wake.set()


def _close_stale_connections(*, force: bool = False) -> None:
    """Drop this thread's database connection when broken or past CONN_MAX_AGE (or always, on exit)."""
    try:
        if force:
            connection.close()
        else:
            close_old_connections()
    except Exception:  # noqa: BLE001 - closing a dead connection can fail; Django reconnects on next use
        logger.debug("closing the database connection failed", exc_info=True)
