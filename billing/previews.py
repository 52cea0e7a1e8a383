"""The bill preview: a month's bill as the API shows it, from its invoice once issued, else computed.

A month that has ended but has no invoice yet is previewed exactly as the billing run would
bill it now (its plan: closing read, continuity, estimate after the grace period, tariff parts,
proration, adjustments and credit); a month in progress, or one still awaiting its closing
read, shows the consumption so far under the tariff in force on its first day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from billing.calculation import calculate_bill
from billing.models import Invoice, Tariff
from billing.selectors import (
    BILL_FIELDS,
    bill_fields,
    billed_energy,
    month_consumption,
    month_period,
    tariff_for_month,
)
from billing.services.invoices import month_bill_fields
from billing.services.run_facts import meter_facts, month_context
from billing.services.run_plan import IssueInvoice, plan_meter
from devices.models import Device


@dataclass(frozen=True)
class BillPreview:
    """A month's bill as the API shows it: from the issued invoice when there is one, else computed now."""

    device_id: str
    month: date
    period_start: datetime
    period_end: datetime
    energy_kwh: Decimal
    slabs: list[dict]
    subtotal: Decimal
    fixed_charge: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    no_readings: bool
    start_register: Decimal | None
    end_register: Decimal | None
    reading_count: int
    register_resets: int
    tariff_effective_from: date
    month_complete: bool
    invoice: Invoice | None = None
    # What an issued invoice adds (a bill computed now has no estimate, adjustment, credit or parts).
    estimated: bool = False
    estimate_basis: str = ""
    adjustment_kwh: Decimal = Decimal("0.000")
    adjustment_amount: Decimal = Decimal("0.00")
    adjustment_detail: list[dict] = field(default_factory=list)
    credit_applied: Decimal = Decimal("0.00")
    credit_carried: Decimal = Decimal("0.00")
    parts: list[dict] = field(default_factory=list)
    service_days: int | None = None
    closing_at: datetime | None = None
    excluded_readings: list[dict] = field(default_factory=list)

    @property
    def excluded_readings_count(self) -> int:
        return len(self.excluded_readings)


class NoTariff(LookupError):
    pass


# What an invoice holds beyond BILL_FIELDS that its preview shows too.
INVOICE_PREVIEW_FIELDS = (
    "estimated",
    "estimate_basis",
    "adjustment_kwh",
    "adjustment_amount",
    "adjustment_detail",
    "credit_applied",
    "credit_carried",
    "parts",
    "service_days",
    "closing_at",
    "excluded_readings",
)


def bill_preview(*, device: Device, month: date, now: datetime | None = None, user: User | None = None) -> BillPreview:
    """The month's bill: the invoice's figures once issued, else computed from the readings so far.

    A bill held for review is shown only to staff: to anyone else (``user`` not staff, or
    no user) the month previews as if it had no invoice yet.
    """
    now = now or timezone.now()
    start, end = month_period(month)
    invoices = Invoice.objects.select_related("tariff").filter(device=device, month=month)
    if user is None or not user.is_staff:
        invoices = invoices.exclude(status=Invoice.Status.HELD)
    invoice = invoices.first()
    if invoice is not None:
        return BillPreview(
            device_id=device.device_id,
            month=month,
            period_start=start,
            period_end=end,
            **{name: getattr(invoice, name) for name in BILL_FIELDS + INVOICE_PREVIEW_FIELDS},
            tariff_effective_from=invoice.tariff.effective_from,
            month_complete=True,
            invoice=invoice,
        )
    tariff = tariff_for_month(month=month)
    if tariff is None:
        raise NoTariff(f"No tariff is in force for {month:%Y-%m}.")
    if end <= now and invoice is None:
        planned = _as_the_run_would_bill(device, month, now=now, tariff=tariff)
        if planned is not None:
            return planned
    consumption = month_consumption(device_id=device.device_id, month=month, until=now)
    bill = calculate_bill(billed_energy(consumption), tariff.terms(), sanctioned_load_kw=device.sanctioned_load_kw)
    return BillPreview(
        device_id=device.device_id,
        month=month,
        period_start=start,
        period_end=end,
        **bill_fields(bill, consumption),
        tariff_effective_from=tariff.effective_from,
        month_complete=end <= now,
    )


def _as_the_run_would_bill(device: Device, month: date, *, now: datetime, tariff: Tariff) -> BillPreview | None:
    """The preview of an ended month from the run's own plan; None when the run would not bill it now."""
    context = month_context(month, now=now)
    action = plan_meter(meter_facts([device], context)[0], context)
    if not isinstance(action, IssueInvoice):
        return None
    fields = month_bill_fields(action.month_bill)
    start, end = month_period(month)
    return BillPreview(
        device_id=device.device_id,
        month=month,
        period_start=start,
        period_end=end,
        **{name: fields[name] for name in BILL_FIELDS + INVOICE_PREVIEW_FIELDS},
        tariff_effective_from=tariff.effective_from,
        month_complete=True,
    )
