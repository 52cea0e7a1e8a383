"""What /health reports: each dependency asked directly, cheaply, with a time bound.

The database, the readings store and the MQTT consumer's heartbeat. Causes are logged and
never put in the answer, which any caller may read. Checks and thresholds:
docs/operations.md#get-health.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops.apps import PROCESS_STARTED
from ops.models import ServiceHeartbeat

logger = logging.getLogger(__name__)

CONSUMER_HEARTBEAT_PREFIX = "mqtt_consumer"
_probe_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health-probe")


@dataclass(frozen=True, slots=True)
class HealthReport:
    db_connected: bool
    readings_store: str
    readings_store_ok: bool
    mqtt_connected: bool
    uptime: float
    version: str

    @property
    def ok(self) -> bool:
        return self.db_connected and self.readings_store_ok and self.mqtt_connected

    def as_dict(self) -> dict:
        return {
            "status": "ok" if self.ok else "degraded",
            "uptime": round(self.uptime, 1),
            "mqtt_connected": self.mqtt_connected,
            "db_connected": self.db_connected,
            "readings_store": {"backend": self.readings_store, "connected": self.readings_store_ok},
            "version": self.version,
        }


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        logger.warning("Health: database did not answer", exc_info=True)
        return False


def readings_backend() -> str:
    return "mongo" if getattr(settings, "MONGODB_URI", "") else "sql"


_readings_probe: Callable[[], None] | None = None


def readings_probe_register(probe: Callable[[], None]) -> None:
    """The readings app hands over how to ping its store (ops imports no app)."""
    global _readings_probe
    _readings_probe = probe


def _probe_store() -> None:
    if _readings_probe is None:
        raise RuntimeError("no readings store probe is registered (is the readings app installed?)")
    _readings_probe()


def readings_store_ok() -> bool:
    try:
        if readings_backend() == "sql":
            # Same database connection as the request: no thread, no extra connection.
            _probe_store()
        else:
            _probe_pool.submit(_probe_store).result(timeout=settings.HEALTH_CHECK_TIMEOUT)
        return True
    except Exception:
        logger.warning("Health: readings store (%s) did not answer", readings_backend(), exc_info=True)
        return False


def consumer_connected(*, now=None) -> bool:
    """True when some consumer reported itself connected recently enough."""
    now = now or timezone.now()
    fresh_after = now - timedelta(seconds=settings.HEALTH_CONSUMER_MAX_AGE)
    try:
        return ServiceHeartbeat.objects.filter(
            name__startswith=CONSUMER_HEARTBEAT_PREFIX, connected=True, updated_at__gte=fresh_after
        ).exists()
    except Exception:
        logger.warning("Health: could not read the consumer heartbeat", exc_info=True)
        return False


def health_report() -> HealthReport:
    db_ok = database_ok()
    return HealthReport(
        db_connected=db_ok,
        readings_store=readings_backend(),
        readings_store_ok=readings_store_ok(),
        mqtt_connected=db_ok and consumer_connected(),
        uptime=time.monotonic() - PROCESS_STARTED,
        version=settings.VERSION,
    )
