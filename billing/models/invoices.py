"""Invoices: a month's bill for one meter, frozen when issued."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.models.runs import BillingRun
from billing.models.tariffs import Tariff
from billing.months import month_label
from billing.storage import private_storage


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
    slab_style = models.CharField(max_length=16, default="telescopic", help_text="The tariff's slab style.")
    fixed_charge_basis = models.CharField(
        max_length=16, default="per_connection", help_text="What the fixed charge was counted per."
    )
    fixed_charge_kw = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Per kW: the sanctioned load counted."
    )
    fixed_charge_rate = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Per kW: ₹ per kW a month."
    )
    minimum_charge = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The month's minimum charge (prorated like the fixed charge); empty: none.",
    )
    minimum_top_up = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="What raised energy and fixed charges to the minimum charge (taxed with them).",
    )
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4)
    tax_label = models.CharField(max_length=40, default="GST", help_text="The tax line's name, from the tariff.")
    tax = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="invoices",
        help_text="The meter's owner at issue.",
    )
    account = models.ForeignKey(
        "billing.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    consumer_number = models.CharField(max_length=10, blank=True, help_text="The account's number at issue.")
    customer_name = models.CharField(max_length=150, blank=True)
    customer_email = models.EmailField()
    customer_address = models.TextField(blank=True)

    previous_balance = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="The account balance on the last invoice."
    )
    payments_since = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Payments and credits since the last invoice, less reversals (positive).",
    )
    amount_due = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="The account balance with this invoice."
    )

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
    def issue_day(self):
        """The issue date in the billing time zone."""
        from billing.zone import billing_zone

        return self.created_at.astimezone(billing_zone()).date()

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
