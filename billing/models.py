"""Billing tables: tariff versions and their slabs, invoices (what was billed, frozen at issue) and billing runs."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.calculation import Slab, TariffTerms
from billing.months import month_label
from billing.storage import private_storage


class TariffQuerySet(models.QuerySet):
    def in_force_on(self, day):
        """The version whose effective date is the latest on or before ``day`` (None if none yet)."""
        return self.filter(effective_from__lte=day).order_by("-effective_from").first()


class Tariff(models.Model):
    """One version of the tariff. Versions are never edited once a month billed with them has invoices."""

    effective_from = models.DateField(unique=True, help_text="The first day this version applies to.")
    fixed_charge = models.DecimalField(max_digits=10, decimal_places=2, help_text="Per meter per month, in ₹.")
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, help_text="0.18 for 18%.")
    description = models.CharField(max_length=200, blank=True)
    estimate_default_kwh = models.DecimalField(
        "default estimate (kWh per month)",
        max_digits=10,
        decimal_places=3,
        default=Decimal("100.000"),
        help_text="Estimated use of a meter with no history to estimate from (a new connection).",
    )
    review_ceiling = models.DecimalField(
        "review ceiling (₹)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="A bill whose total exceeds this is held for review. Empty: no ceiling.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TariffQuerySet.as_manager()

    class Meta:
        ordering = ["-effective_from"]

    def __str__(self):
        return f"Tariff from {self.effective_from.isoformat()}"

    def terms(self) -> TariffTerms:
        slabs = tuple(
            Slab(range_start=slab.range_start, range_end=slab.range_end, rate=slab.rate) for slab in self.slabs.all()
        )
        return TariffTerms(slabs=slabs, fixed_charge=self.fixed_charge, tax_rate=self.tax_rate)


class TariffSlab(models.Model):
    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="slabs")
    range_start = models.PositiveIntegerField(help_text="kWh; the first slab starts at 0.")
    range_end = models.PositiveIntegerField(null=True, blank=True, help_text="kWh; empty for the open last slab.")
    rate = models.DecimalField(max_digits=10, decimal_places=2, help_text="₹ per kWh.")

    class Meta:
        ordering = ["tariff", "range_start"]
        constraints = [models.UniqueConstraint(fields=["tariff", "range_start"], name="tariff_slab_unique_start")]

    def __str__(self):
        end = "+" if self.range_end is None else f"-{self.range_end}"
        return f"{self.range_start}{end} @ {self.rate}"


class BillingRun(models.Model):
    """What one billing run did, for staff and for the next run's operator."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Schedule"

    month = models.DateField(db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.COMMAND)
    device_id = models.CharField(max_length=64, blank=True, help_text="Set when the run was limited to one meter.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    meters = models.PositiveIntegerField(default=0, help_text="Meters considered.")
    billed = models.PositiveIntegerField(default=0, help_text="Invoices issued by this run.")
    already_billed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0, help_text="Bills held for review by this run.")
    estimated = models.PositiveIntegerField(default=0, help_text="Bills estimated by this run.")
    awaiting = models.PositiveIntegerField(default=0, help_text="Meters still awaiting their closing read.")
    failed = models.PositiveIntegerField(default=0)
    emails_sent = models.PositiveIntegerField(default=0)
    skipped_detail = models.JSONField(default=dict, blank=True, help_text="Reason -> meters skipped for it.")
    failures = models.JSONField(default=list, blank=True, help_text="[{device_id, error}]")
    host = models.CharField(max_length=255, blank=True, help_text="Machine the run's process ran on.")
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="Process id of the run on that machine.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Billing run {month_label(self.month)} ({self.get_status_display()}, {self.started_at:%Y-%m-%d %H:%M})"


def invoice_pdf_path(invoice, filename):
    return f"invoices/{month_label(invoice.month)}/{invoice.number}.pdf"


class Invoice(models.Model):
    """A month's bill for one meter, frozen when issued: later tariff or profile changes never alter it."""

    class Status(models.TextChoices):
        HELD = "held", "Held for review"
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        OVERDUE = "overdue", "Overdue"

    number = models.CharField("invoice id", max_length=40, unique=True)
    device = models.ForeignKey("devices.Device", on_delete=models.PROTECT, related_name="invoices")
    month = models.DateField(help_text="First day of the billed month.")
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="invoices")

    energy_kwh = models.DecimalField(max_digits=12, decimal_places=3)
    start_register = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    end_register = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    first_reading_at = models.DateTimeField(null=True, blank=True)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    reading_count = models.PositiveIntegerField(default=0)
    register_resets = models.PositiveIntegerField(default=0)
    no_readings = models.BooleanField(
        default=False, help_text="No reading inside the month: energy interpolated from readings either side, or 0."
    )

    closing_at = models.DateTimeField(
        null=True, blank=True, help_text="Instant of the closing register; the next month opens exactly there."
    )
    estimated = models.BooleanField(
        default=False, help_text="Energy estimated: no closing read within the grace period."
    )
    estimate_basis = models.CharField(max_length=32, blank=True, help_text="What the estimate was computed from.")
    excluded_readings = models.JSONField(
        default=list, blank=True, help_text="Readings left out of the energy: [{timestamp, register, kind, reason}]."
    )
    adjustment_kwh = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        default=Decimal("0.000"),
        help_text="Actual minus estimated energy of earlier months.",
    )
    adjustment_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="The adjustment priced, tax included (signed).",
    )
    adjustment_detail = models.JSONField(
        default=list, blank=True, help_text="Per corrected month: [{month, estimated_kwh, actual_kwh, kwh, amount}]."
    )
    credit_applied = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Credit from earlier bills taken off this one.",
    )
    credit_carried = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), help_text="Credit left over, taken off the next bill."
    )
    parts = models.JSONField(
        default=list,
        blank=True,
        help_text="A month split by a tariff change or part-month service: [{from, until, days, share, tariff_id, "
        "energy_kwh, slabs, subtotal, fixed_charge}]; empty for a plain whole month.",
    )
    service_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days of the month the meter was in service (fixed charge prorated)."
    )
    held_reasons = models.JSONField(default=list, blank=True, help_text="Why the bill waits for review.")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    slabs = models.JSONField(help_text="Snapshot: [{slab, range_start, range_end, units, rate, charge}].")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    fixed_charge = models.DecimalField(max_digits=10, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4)
    tax = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="invoices",
        help_text="The meter's owner at issue.",
    )
    customer_name = models.CharField(max_length=150, blank=True)
    customer_email = models.EmailField()
    customer_address = models.TextField(blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ISSUED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, help_text="Issue time.")
    due_date = models.DateField()
    paid_date = models.DateField(null=True, blank=True)
    pdf = models.FileField(storage=private_storage, upload_to=invoice_pdf_path, blank=True, max_length=200)
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When the invoice email went out.")
    reminder_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the overdue reminder went out.")
    billing_run = models.ForeignKey(BillingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-month", "number"]
        constraints = [models.UniqueConstraint(fields=["device", "month"], name="invoice_unique_device_month")]
        indexes = [models.Index(fields=["status", "due_date"], name="invoice_status_due_idx")]

    def __str__(self):
        return self.number

    @property
    def month_label(self) -> str:
        return month_label(self.month)

    @property
    def is_unpaid(self) -> bool:
        return self.status != self.Status.PAID

    @property
    def is_held(self) -> bool:
        return self.status == self.Status.HELD

    @property
    def pdf_filename(self) -> str:
        return f"invoice-{self.number}.pdf"

    def slab_rows(self) -> list[dict]:
        """The slab snapshot with Decimal amounts, for templates."""
        return [
            {
                **row,
                "units": Decimal(row["units"]),
                "rate": Decimal(row["rate"]),
                "charge": Decimal(row["charge"]),
            }
            for row in self.slabs
        ]


class HeldInvoice(Invoice):
    """Invoices as the review queue shows them (the admin lists only those held for review)."""

    class Meta:
        proxy = True
        verbose_name = "bill to review"
        verbose_name_plural = "bills to review"
