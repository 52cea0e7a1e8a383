"""Heartbeats of long-running processes, which /health reads."""

from django.db import models


class ServiceHeartbeat(models.Model):
    """Last reported state of a long-running process (the MQTT consumer, say), readable by /health."""

    name = models.CharField(max_length=64, unique=True)
    connected = models.BooleanField(default=False)
    detail = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {'connected' if self.connected else 'disconnected'}"
