"""Readings tables: the SQL store's readings, dead letters and the instants given to untimed deliveries."""

from django.db import models


class SqlReading(models.Model):
    """One telemetry sample in the SQL readings store (used when MONGODB_URI is unset)."""

    device_id = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    # Null: the meter's format does not send it (docs/ingestion.md#payload-formats).
    voltage = models.FloatField(null=True)
    current = models.FloatField(null=True)
    power_w = models.FloatField(null=True)
    energy_kwh = models.FloatField()
    power_factor = models.FloatField(null=True)
    rssi = models.IntegerField(null=True)
    energy_export_kwh = models.FloatField(null=True)
    phases = models.JSONField(null=True)  # {"L1": {"voltage": 231.0, "current": 4.2, ...}, ...}
    registers = models.JSONField(null=True)  # {"delivered_1": 1234.5, "delivered_2": 2345.6}: energy_kwh is their sum
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "readings_reading"
        constraints = [models.UniqueConstraint(fields=["device_id", "timestamp"], name="reading_unique_device_time")]
        indexes = [
            models.Index(fields=["timestamp"], name="reading_time_idx"),
            # Covers the series and consumption statements (readings.stores.sql): they read
            # these columns for one meter over a time range straight from the index.
            models.Index(
                fields=["device_id", "timestamp", "energy_kwh", "power_w", "voltage", "current", "power_factor"],
                name="reading_series_idx",
            ),
        ]

    def __str__(self):
        return f"{self.device_id} @ {self.timestamp.isoformat()}"


class DeadLetter(models.Model):
    """Telemetry that could never be stored, kept (bounded) so staff can see why."""

    topic = models.CharField(max_length=255)
    device_id = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.CharField(max_length=64, db_index=True)
    detail = models.CharField(max_length=500, blank=True)
    payload_excerpt = models.TextField(blank=True)
    payload_size = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "dead-letter message"

    def __str__(self):
        return f"{self.reason}: {self.topic}"


class UntimedDelivery(models.Model):
    """The instant given to a stored reading whose payload carried no timestamp, by the packet that brought it.

    A telemetry message without a `timestamp` is stored at its receive time. If the
    consumer stops after storing it but before acknowledging it, the broker sends the
    same packet again (same packet id, DUP flag set) and it would be stored a second time
    at a new receive time. The consumer therefore notes, per meter and packet id, the
    payload's digest and the instant it was given, and a redelivered packet with the same
    digest takes the same instant, which the store then recognises as a duplicate.
    Rows older than the broker session expiry are pruned (nothing older can come back).
    """

    device_id = models.CharField(max_length=64)
    packet_id = models.PositiveIntegerField()
    payload_sha256 = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device_id", "packet_id"], name="untimed_delivery_device_packet"),
        ]

    def __str__(self):
        return f"{self.device_id} packet {self.packet_id} @ {self.timestamp.isoformat()}"
