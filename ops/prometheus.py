"""Metrics computed at scrape time from the database, valid whichever process serves /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from ops.models import ServiceHeartbeat

logger = logging.getLogger(__name__)


class HeartbeatCollector:
    """smartmeter_service_connected / smartmeter_service_heartbeat_age_seconds per
    long-running process (the MQTT consumer records "mqtt_consumer")."""

    def collect(self):
        connected = GaugeMetricFamily(
            "smartmeter_service_connected", "Last reported connection state of a service.", labels=["service"]
        )
        age = GaugeMetricFamily(
            "smartmeter_service_heartbeat_age_seconds", "Seconds since a service last reported.", labels=["service"]
        )
        now = timezone.now()
        try:
            rows = list(ServiceHeartbeat.objects.values_list("name", "connected", "updated_at"))
        except Exception:
            logger.warning("Could not read service heartbeats for /metrics", exc_info=True)
            rows = []
        for name, is_connected, updated_at in rows:
            connected.add_metric([name], 1.0 if is_connected else 0.0)
            age.add_metric([name], max(0.0, (now - updated_at).total_seconds()))
        yield connected
        yield age


_scrape_gauges: dict[str, tuple[str, Callable[[], float]]] = {}


def scrape_gauge_register(name: str, documentation: str, read: Callable[[], float]) -> None:
    """An app hands over a gauge read at scrape time (ops imports no app), e.g. billing's held bills."""
    _scrape_gauges[name] = (documentation, read)


class RegisteredGaugesCollector:
    """The gauges apps registered with scrape_gauge_register; one that fails to read is left out."""

    def collect(self):
        for name, (documentation, read) in sorted(_scrape_gauges.items()):
            try:
                value = float(read())
            except Exception:
                logger.warning("Could not read %s for /metrics", name, exc_info=True)
                continue
            yield GaugeMetricFamily(name, documentation, value=value)
