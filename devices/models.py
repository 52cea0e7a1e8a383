"""The meter (`Device`): its public id, owner, location, status and last contact; and
the record of one meter replaced by another (`MeterExchange`).

A meter is provisioned by staff before any customer has it (no owner, a hashed one-time
claim code); the customer who has the code claims it. docs/deployment.md#provisioning-meters.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE, NATIVE, PAYLOAD_FORMAT_LABELS

DEFAULT_SANCTIONED_LOAD_KW = Decimal("5.00")

device_id_validator = RegexValidator(
    DEVICE_ID_PATTERN,
    f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level).",
)


class DeviceQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(status=Device.Status.DECOMMISSIONED)

    def claimed(self):
        return self.filter(owner__isnull=False)

    def unclaimed(self):
        return self.filter(owner__isnull=True)

    def billable(self):
        """Active meters with a customer: an unclaimed meter has nobody to bill."""
        return self.active().claimed()

    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(owner=user)


class Device(models.Model):
    """A smart meter: provisioned by staff, then claimed by (or assigned to) a customer."""

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        ERROR = "error", "Error"
        DECOMMISSIONED = "decommissioned", "Decommissioned"

    device_id = models.CharField(max_length=64, unique=True, validators=[device_id_validator])
    name = models.CharField(max_length=120, blank=True)
    location = models.CharField(max_length=255, blank=True)
    serial = models.CharField(
        "manufacturer serial", max_length=64, blank=True, help_text="Unique when given; blank on meters added before."
    )
    sanctioned_load_kw = models.DecimalField(
        "sanctioned load (kW)",
        max_digits=7,
        decimal_places=2,
        default=DEFAULT_SANCTIONED_LOAD_KW,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="The connection's sanctioned load.",
    )
    register_digits = models.PositiveSmallIntegerField(
        "register digits",
        null=True,
        blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(9)],
        help_text="Whole-kWh digits the register shows (6 for 999999.9); it rolls over to 0 after. "
        "Empty: the register does not roll over.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="devices",
        null=True,
        blank=True,
        help_text="Empty until a customer claims the meter or staff assign it.",
    )
    # A hash (Django's password hashers), never the code itself; empty once claimed or assigned.
    claim_code_hash = models.CharField(max_length=128, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    payload_format = models.CharField(
        "payload format",
        max_length=16,
        choices=list(PAYLOAD_FORMAT_LABELS.items()),
        default=NATIVE,
        help_text="What the meter sends and on which topics: the product's own JSON, or an off-the-shelf "
        "monitor's format (docs/ingestion.md#payload-formats).",
    )
    wifi_ssid = models.CharField("Wi-Fi SSID", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFLINE, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True, db_index=True)
    firmware_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decommissioned_at = models.DateTimeField(null=True, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["device_id"]
        constraints = [
            models.UniqueConstraint(fields=["serial"], condition=~Q(serial=""), name="device_serial_unique"),
        ]

    def __str__(self):
        return f"{self.device_id} ({self.name})" if self.name else self.device_id

    @property
    def is_decommissioned(self) -> bool:
        return self.status == self.Status.DECOMMISSIONED

    @property
    def is_claimed(self) -> bool:
        return self.owner_id is not None


class MeterExchange(models.Model):
    """One meter replaced by another at an instant: the old meter's final register and the new
    one's initial register, read off both by the staff who swapped them. docs/operations.md#meter-exchange.

    The old meter is decommissioned at ``exchanged_at``; the new one serves the same customer from then on.
    """

    old_device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="exchanges_out")
    new_device = models.OneToOneField(Device, on_delete=models.PROTECT, related_name="exchange_in")
    exchanged_at = models.DateTimeField("exchanged at", db_index=True)
    old_final_register = models.DecimalField(
        "old meter's final register (kWh)",
        max_digits=14,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0"))],
    )
    new_initial_register = models.DecimalField(
        "new meter's initial register (kWh)",
        max_digits=14,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0"))],
    )
    notes = models.TextField(blank=True, help_text="Why the meter was exchanged, seals, anything staff noted.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Not stored: device_exchange sets it on the exchange it returns, the new meter's
    # ProvisionedMeter (one-time secrets to show staff) or None when an existing meter was used.
    provisioned = None

    class Meta:
        ordering = ["-exchanged_at", "-id"]
        constraints = [
            # An old meter leaves service once: it is decommissioned by its exchange.
            models.UniqueConstraint(fields=["old_device"], name="meter_exchange_old_device_once"),
            models.CheckConstraint(condition=~Q(old_device=models.F("new_device")), name="meter_exchange_two_meters"),
            models.CheckConstraint(
                condition=Q(old_final_register__gte=0) & Q(new_initial_register__gte=0),
                name="meter_exchange_registers_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.old_device.device_id} -> {self.new_device.device_id} at {self.exchanged_at.isoformat()}"
