"""Tariff versions and their slabs."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.calculation import NON_TELESCOPIC, PER_CONNECTION, PER_KW, TELESCOPIC, Slab, TariffTerms


class TariffQuerySet(models.QuerySet):
    def in_force_on(self, day):
        """The version whose effective date is the latest on or before ``day`` (None if none yet)."""
        return self.filter(effective_from__lte=day).order_by("-effective_from").first()


class Tariff(models.Model):
    """One version of the tariff. Versions are never edited once a month billed with them has invoices."""

    class SlabStyle(models.TextChoices):
        TELESCOPIC = TELESCOPIC, "Telescopic (each slab's rate on the units inside it)"
        NON_TELESCOPIC = (
            NON_TELESCOPIC,
            "Non-telescopic (the rate of the slab the month's total falls in, on all units)",
        )

    class FixedChargeBasis(models.TextChoices):
        PER_CONNECTION = PER_CONNECTION, "Per connection"
        PER_KW = PER_KW, "Per kW of sanctioned load"

    effective_from = models.DateField(unique=True, help_text="The first day this version applies to.")
    slab_style = models.CharField(
        max_length=16,
        choices=SlabStyle.choices,
        default=SlabStyle.TELESCOPIC,
        help_text="Telescopic: 250 kWh on slabs 0-100 and 101-300 pays 100 units at the first rate and 150 at "
        "the second. Non-telescopic: all 250 units at the rate of the slab 250 falls in.",
    )
    fixed_charge = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        help_text="₹ a month per meter, or per kW of the meter's sanctioned load (see the basis).",
    )
    fixed_charge_basis = models.CharField(
        max_length=16,
        choices=FixedChargeBasis.choices,
        default=FixedChargeBasis.PER_CONNECTION,
        help_text="Per kW: the fixed charge times the meter's sanctioned load (5 kW at ₹40 is ₹200 a month).",
    )
    minimum_charge = models.DecimalField(
        "minimum charge (₹ per month)",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="A bill whose energy and fixed charges come to less is raised to this before tax. Empty: none.",
    )
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, help_text="0.18 for 18%.")
    tax_label = models.CharField(
        max_length=40,
        default="GST",
        help_text='The tax line\'s name on the bill, before its rate ("GST" prints "18% GST"; '
        'a utility that charges electricity duty writes "Electricity duty").',
    )
    late_fee_rate = models.DecimalField(
        "late-payment surcharge (per month)",
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0150"),
        help_text="Charged on the overdue amount for each month (or part) it stays unpaid; 0.015 for 1.5%.",
    )
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
        return TariffTerms(
            slabs=slabs,
            fixed_charge=self.fixed_charge,
            tax_rate=self.tax_rate,
            slab_style=self.slab_style,
            fixed_charge_basis=self.fixed_charge_basis,
            minimum_charge=self.minimum_charge,
        )


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
