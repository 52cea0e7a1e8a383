"""The meter (`Device`): its public id, owner, location, status and last contact."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE

device_id_validator = RegexValidator(
    DEVICE_ID_PATTERN,
    f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level).",
)


class DeviceQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(status=Device.Status.DECOMMISSIONED)

    def billable(self):
        return self.active()

    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(owner=user)


class Device(models.Model):
    """A smart meter registered to a customer."""

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        ERROR = "error", "Error"
        DECOMMISSIONED = "decommissioned", "Decommissioned"

    device_id = models.CharField(max_length=64, unique=True, validators=[device_id_validator])
    name = models.CharField(max_length=120, blank=True)
    location = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="devices")
    wifi_ssid = models.CharField("Wi-Fi SSID", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFLINE, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True, db_index=True)
    firmware_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decommissioned_at = models.DateTimeField(null=True, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["device_id"]

    def __str__(self):
        return f"{self.device_id} ({self.name})" if self.name else self.device_id

    @property
    def is_decommissioned(self) -> bool:
        return self.status == self.Status.DECOMMISSIONED
