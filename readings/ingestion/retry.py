"""How a durable ingestion step is retried.

Outages (lost connection, locked database, the store's server gone) are retried with
back-off until they pass or the process is asked to stop; errors caused by the data
itself are raised at once so the batch can be split and the culprit dead-lettered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DataError, IntegrityError

logger = logging.getLogger("smartmeter.ingest")


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
