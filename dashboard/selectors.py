"""Reads for the customer pages and the staff overview.

Every read goes through the other apps' public selectors (readings.selectors,
billing.selectors, devices.selectors); besides those only their pure helpers and
types are used here: no model query, no readings store, no paho, no PDF code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing import collections as billing_collections
from billing import explain as billing_explain
from billing import projection as billing_projection
from billing import selectors as billing_selectors
from billing.months import month_bounds, month_containing
from billing.selectors import BillEstimate, InvoiceTally
from billing.zone import billing_zone
from devices import selectors as devices_selectors
from readings import selectors as readings_selectors
from readings.types import Reading

if TYPE_CHECKING:  # names for annotations only; every read goes through a selector above
    from django.db.models import QuerySet

    from accounts.models import User
    from billing.models import Invoice
    from devices.models import Device

ROLLING_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class MeterSummary:
    """One meter on "My meters": its newest reading, this month so far and the projected bill."""

    device: Device
    latest: Reading | None
    month: date
    estimate_detail: BillEstimate | None  # None for a retired meter or one that never reported

    @property
    def has_month_readings(self) -> bool:
        return self.estimate_detail is not None and self.estimate_detail.has_readings

    @property
    def month_to_date_kwh(self) -> Decimal | None:
        return self.estimate_detail.consumption_kwh if self.has_month_readings else None

    @property
    def month_label(self) -> str:
        return f"{self.month:%B %Y}"

    @property
    def estimate(self) -> ProjectedBill | None:
        """The projected bill for templates; None when there is nothing honest to project."""
        detail = self.estimate_detail
        if detail is None or not detail.has_readings or detail.projected_bill is None:
            return None
        return ProjectedBill(total=detail.projected_bill.total, projected_kwh=detail.projected_kwh)

    @property
    def projection_held(self) -> HeldProjection | None:
        """Why this month's readings show no projected bill, in the customer's words; None when
        one is shown or when there are no readings this month (the page says that itself)."""
        detail = self.estimate_detail
        if detail is None or not detail.has_readings or detail.projection_held is None:
            return None
        return held_projection(detail.projection_held)


@dataclass(frozen=True)
class ProjectedBill:
    total: Decimal
    projected_kwh: Decimal


@dataclass(frozen=True)
class HeldProjection:
    """Shown instead of a rupee figure: a short label for the figure's place and the full reason."""

    label: str
    sentence: str


def held_projection(reason: str) -> HeldProjection:
    """The words for a projection ``billing.projection`` holds."""
    if reason == billing_projection.NO_TARIFF:
        return HeldProjection(
            "No tariff yet", "No tariff is in force for this month yet, so there is no bill to project."
        )
    if reason == billing_projection.READINGS_STALE:
        return HeldProjection(
            "Not enough recent data",
            "Not enough recent data to project this month's bill: the meter has not reported for a while, "
            "so its readings no longer show how much you use.",
        )
    days = settings.PROJECTION_MIN_DAYS
    return HeldProjection(
        "Not enough data yet",
        "Not enough data yet to project this month's bill "
        f"(projections start after {days} day{'' if days == 1 else 's'} of readings).",
    )


def customer_meters(*, user: User) -> QuerySet[Device]:
    """The meters registered to this person (staff included: "My meters" is personal; the admin lists all)."""
    return devices_selectors.device_list_owned(owner=user)


def meter_summary(*, device: Device, now: datetime | None = None) -> MeterSummary:
    return meter_summaries(devices=[device], now=now)[0]


def meter_summaries(*, devices: list[Device], now: datetime | None = None) -> list[MeterSummary]:
    now = now or timezone.now()
    month = month_containing(now, billing_zone())
    newest = readings_selectors.readings_latest_many(device_ids=[device.device_id for device in devices])
    summaries = []
    for device in devices:
        latest = newest.get(device.device_id)
        estimate = None
        if latest is not None and not device.is_decommissioned:
            estimate = billing_selectors.bill_estimate(device=device, month=month, now=now)
        summaries.append(MeterSummary(device=device, latest=latest, month=month, estimate_detail=estimate))
    return summaries


def chart_ranges(*, now: datetime, tz: ZoneInfo) -> dict[str, dict[str, str]]:
    """The meter page's chart periods, aligned to whole hours, days and months in the time zone shown."""
    local_now = now.astimezone(tz)
    this_hour = local_now.replace(minute=0, second=0, microsecond=0)
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = month_bounds(month_containing(now, tz), tz)[0]
    year, month = month_start.year, month_start.month - 11
    if month <= 0:
        year, month = year - 1, month + 12
    first_month = month_bounds(date(year, month, 1), tz)[0]
    end = now.isoformat()
    return {
        "hour": {"from": (this_hour - timedelta(hours=47)).isoformat(), "to": end},
        "day": {"from": _days_before(today, 30, tz).isoformat(), "to": end},
        "month": {"from": first_month.isoformat(), "to": end},
        "rolling": {"from": (now - ROLLING_WINDOW).isoformat(), "to": end},
    }


def _days_before(local_midnight: datetime, days: int, tz: ZoneInfo) -> datetime:
    # Calendar arithmetic on the date, then midnight again: correct across DST changes.
    day = local_midnight.date() - timedelta(days=days)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def customer_invoices(*, user: User, device: Device | None = None) -> list[Invoice]:
    """Invoices issued to the person (one meter's, or all, including meters since reassigned),
    newest first, each with ``pdf_url`` for the download link and ``explanations``: what its
    estimate, adjustment and credit mean, in plain words. Bills held for review are not
    shown to customers (billing.selectors)."""
    if device is not None:
        invoices = list(billing_selectors.invoice_list(device=device, user=user))
    else:
        invoices = list(billing_selectors.invoice_list_for_customer(user=user))
    for invoice in invoices:
        _present(invoice)
    return invoices


def latest_invoice(*, user: User, device: Device) -> Invoice | None:
    """The meter's newest bill the person may see (as ``customer_invoices`` presents it), or None."""
    invoice = billing_selectors.invoice_list(device=device, user=user).first()
    return _present(invoice) if invoice is not None else None


def _present(invoice: Invoice) -> Invoice:
    invoice.pdf_url = invoice_pdf_url(invoice)
    invoice.explanations = billing_explain.invoice_explanations(invoice)
    return invoice


def invoice_pdf_url(invoice: Invoice) -> str:
    return reverse("invoice-pdf", kwargs={"invoice_id": invoice.number})


# --- Staff overview ------------------------------------------------------------


@dataclass(frozen=True)
class StaffOverview:
    generated_at: datetime
    meters_by_status: dict[str, int]
    meters_total: int
    stale_online: int
    readings_last_hour: int
    rejected_since: datetime
    rejected_by_reason: list[tuple[str, int]]
    rejected_total: int
    dead_letters_kept: int
    month: date
    invoices: list[InvoiceTally]
    invoices_total_count: int
    invoices_total_amount: Decimal
    bills_to_review: int
    receivables_buckets: list[tuple[str, str, Decimal]]  # (key, label, amount) per ageing bucket
    receivables_total: Decimal
    receivables_accounts: int


def staff_overview(*, now: datetime | None = None) -> StaffOverview:
    now = now or timezone.now()
    meters_by_status = devices_selectors.devices_count_by_status()
    rejected_since = now - timedelta(hours=24)
    rejected_by_reason = readings_selectors.dead_letters_count_by_reason(since=rejected_since)
    month = month_containing(now, billing_zone())
    month_start, month_end = billing_selectors.month_period(month)
    invoices = billing_selectors.invoice_tallies(created_from=month_start, created_until=month_end)
    ageing = billing_collections.ageing_report(as_of=now.astimezone(billing_zone()).date())
    return StaffOverview(
        generated_at=now,
        meters_by_status=meters_by_status,
        meters_total=sum(meters_by_status.values()),
        stale_online=devices_selectors.devices_count_stale_online(now=now),
        readings_last_hour=readings_selectors.readings_count(since=now - timedelta(hours=1)),
        rejected_since=rejected_since,
        rejected_by_reason=rejected_by_reason,
        rejected_total=sum(n for _, n in rejected_by_reason),
        dead_letters_kept=readings_selectors.dead_letters_count(),
        month=month,
        invoices=invoices,
        invoices_total_count=sum(tally.count for tally in invoices),
        invoices_total_amount=sum((tally.amount for tally in invoices), Decimal("0.00")),
        bills_to_review=billing_selectors.invoices_held_count(),
        receivables_buckets=ageing.bucket_totals,
        receivables_total=ageing.total,
        receivables_accounts=len(ageing.rows),
    )
