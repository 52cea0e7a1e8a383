"""Metrics computed at scrape time from the database, valid whichever process serves /metrics."""

from __future__ import annotations

import logging

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
