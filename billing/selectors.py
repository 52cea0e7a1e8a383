"""Billing reads: tariffs in force, a month's consumption (through readings.selectors), bill previews and estimates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from billing.calculation import Bill, TariffTerms, calculate_bill, scale_energy
from billing.models import Invoice, Note, Tariff, TariffSlab
from billing.months import month_bounds, month_containing, next_month, previous_month_of
from billing.projection import NO_TARIFF, projection_hold
from billing.review_chart import RegisterChart, register_chart
from billing.usage_chart import UsageMonth
from billing.zone import billing_zone
from devices.models import Device
from readings import selectors as readings_selectors  # billing reads consumption here only, never from a store
from readings.types import Consumption


def billing_today() -> date:
    return timezone.now().astimezone(billing_zone()).date()


def month_period(month: date) -> tuple[datetime, datetime]:
    """The billed month as [start, end) instants in the billing time zone."""
    return month_bounds(month, billing_zone())


def month_has_ended(month: date, *, now: datetime | None = None) -> bool:
    return month_period(month)[1] <= (now or timezone.now())


def billing_due(month: date, *, now: datetime | None = None) -> bool:
    """Whether the scheduled run should bill ``month`` now: hourly on the first day after it,
    then daily (the 00:xx hour) until a day after the closing-read grace period ends, and only
    while a billable meter still lacks the month's invoice."""
    now = now or timezone.now()
    _, end = month_period(month)
    waited = now - end
    if waited < timedelta(0) or waited > settings.BILLING_CLOSING_READ_GRACE + timedelta(days=1):
        return False
    if waited >= timedelta(days=1) and now.astimezone(billing_zone()).hour != 0:
        return False
    return billable_devices(month=month).exclude(invoices__month=month).exists()


def month_is_future(month: date, *, now: datetime | None = None) -> bool:
    return month > month_containing(now or timezone.now(), billing_zone())


# --- Tariffs ----------------------------------------------------------------


def _tariffs() -> QuerySet[Tariff]:
    return Tariff.objects.prefetch_related(Prefetch("slabs", queryset=TariffSlab.objects.order_by("range_start")))


def tariff_current(*, today: date | None = None) -> Tariff | None:
    """The version in force today (billing time zone)."""
    return _tariffs().in_force_on(today or billing_today())


def tariff_for_month(*, month: date) -> Tariff | None:
    """The version in force on the month's first day (it bills the whole month unless a
    version takes effect during it: ``tariff_versions_within``)."""
    return _tariffs().in_force_on(month)


def tariff_versions_within(*, month: date) -> list[Tariff]:
    """Versions taking effect after the month's first day and within it, in date order: each
    splits the month at its midnight (docs/billing.md#a-tariff-change-mid-month)."""
    return list(
        _tariffs().filter(effective_from__gt=month, effective_from__lt=next_month(month)).order_by("effective_from")
    )


def tariff_versions() -> QuerySet[Tariff]:
    return _tariffs().order_by("-effective_from")


# --- Consumption (through the readings seam only) ---------------------------


def _empty(device_id: str) -> Consumption:
    return Consumption(
        device_id=device_id,
        energy_kwh=Decimal("0.000"),
        start_register=None,
        end_register=None,
        first_reading_at=None,
        last_reading_at=None,
        reading_count=0,
        resets=0,
    )


def month_consumption(*, device_id: str, month: date, until: datetime | None = None) -> Consumption:
    start, end = month_period(month)
    if until is not None:
        end = min(end, until)
    return readings_selectors.device_consumption(device_id=device_id, start=start, end=end)


def months_consumption(*, device_ids: list[str], month: date) -> dict[str, Consumption]:
    """Every meter's consumption for the month, read in a bounded number of queries (not one per meter)."""
    if not device_ids:
        return {}
    start, end = month_period(month)
    found = readings_selectors.devices_consumption(device_ids=list(device_ids), start=start, end=end)
    return {device_id: found.get(device_id) or _empty(device_id) for device_id in device_ids}


def period_consumption(*, device_ids: list[str], start: datetime, end: datetime) -> dict[str, Consumption]:
    """Every meter's consumption over [start, end) (a part of a month, a trailing window), in bulk."""
    if not device_ids:
        return {}
    found = readings_selectors.devices_consumption(device_ids=list(device_ids), start=start, end=end)
    return {device_id: found.get(device_id) or _empty(device_id) for device_id in device_ids}


def billed_energy(consumption: Consumption) -> Decimal:
    """Energy to bill: the register-based consumption of the month.

    With no reading inside the month it is the share interpolated between the
    readings either side when both exist, else 0 (a "no readings" bill).
    """
    return consumption.energy_kwh


# --- Meters to bill ---------------------------------------------------------


def billable_devices(*, month: date) -> QuerySet[Device]:
    """Meters billed for ``month``: active ones, plus those decommissioned during or after it (their final bill).

    Only meters with an owner: a provisioned meter nobody has claimed has no one to bill.
    """
    start, _ = month_period(month)
    return (
        Device.objects.filter(owner__isnull=False)
        .filter(~Q(status=Device.Status.DECOMMISSIONED) | Q(decommissioned_at__gte=start))
        .select_related("owner")
        .order_by("pk")
    )


# --- Bill rows and estimates ------------------------------------------------


def bill_slab_rows(bill: Bill) -> list[dict]:
    """The per-slab lines as stored on invoices and shown by the API (amounts as strings, exact)."""
    return [
        {
            "slab": line.slab.label,
            "key": line.slab.key,
            "range_start": line.slab.range_start,
            "range_end": line.slab.range_end,
            "units": str(line.units.quantize(Decimal("0.001"))),
            "rate": str(line.rate.quantize(Decimal("0.01"))),
            "charge": str(line.charge),
        }
        for line in bill.lines
    ]


# What an invoice and a preview both hold of a bill and the consumption behind it.
BILL_FIELDS = (
    "energy_kwh",
    "slabs",
    "subtotal",
    "fixed_charge",
    "tax_rate",
    "tax",
    "total",
    "no_readings",
    "start_register",
    "end_register",
    "reading_count",
    "register_resets",
)


def bill_fields(bill: Bill, consumption: Consumption) -> dict:
    """BILL_FIELDS for a bill computed from ``consumption``."""
    return {
        "energy_kwh": bill.energy_kwh,
        "slabs": bill_slab_rows(bill),
        "subtotal": bill.subtotal,
        "fixed_charge": bill.fixed_charge,
        "tax_rate": bill.tax_rate,
        "tax": bill.tax,
        "total": bill.total,
        "no_readings": not consumption.has_readings,
        "start_register": consumption.start_register,
        "end_register": consumption.end_register,
        "reading_count": consumption.reading_count,
        "register_resets": consumption.resets + consumption.rollovers,
    }


@dataclass(frozen=True)
class BillEstimate:
    """This month so far and, when the readings justify it, where it is heading: clearly an
    estimate, never an invoice."""

    device_id: str
    month: date
    consumption_kwh: Decimal
    projected_kwh: Decimal | None  # None while the readings do not justify a projection
    projected_bill: Bill | None  # None then too, and when no tariff is in force
    has_readings: bool
    # Why there is no projected bill (a billing.projection reason); None when there is one.
    projection_held: str | None = None


def bill_estimate(*, device: Device, month: date | None = None, now: datetime | None = None) -> BillEstimate:
    """Consumption so far in ``month`` (default: the current one) and the bill projected to month end.

    The rate over the span the readings count (from the month's start, or the meter's first
    reading in it, to the last reading) is extended linearly to the month's end, but only
    when ``billing.projection.projection_hold`` finds the readings enough
    (``PROJECTION_MIN_DAYS``); otherwise ``projection_held`` says why and nothing is projected.
    """
    now = now or timezone.now()
    month = month or month_containing(now, billing_zone())
    _, end = month_period(month)
    consumption = month_consumption(device_id=device.device_id, month=month, until=now)
    opened, closed = consumption.opened_at, consumption.closed_at
    held = projection_hold(
        counted_from=opened, counted_to=closed, now=min(now, end), min_days=settings.PROJECTION_MIN_DAYS
    )
    tariff = tariff_for_month(month=month)
    terms: TariffTerms | None = tariff.terms() if tariff else None
    projected = None
    if held is None:
        projected = scale_energy(
            consumption.energy_kwh,
            elapsed_seconds=(closed - opened).total_seconds(),
            period_seconds=(end - opened).total_seconds(),
        )
        if terms is None:
            held = NO_TARIFF
    return BillEstimate(
        device_id=device.device_id,
        month=month,
        consumption_kwh=consumption.energy_kwh,
        projected_kwh=projected,
        projected_bill=(
            calculate_bill(projected, terms, sanctioned_load_kw=device.sanctioned_load_kw)
            if projected is not None and terms
            else None
        ),
        has_readings=consumption.has_readings,
        projection_held=held,
    )


# --- Invoices -----------------------------------------------------------------


def _visible(invoices: QuerySet[Invoice], user: User) -> QuerySet[Invoice]:
    """Staff see every invoice; a customer only those issued to them and not held for review."""
    if user.is_staff:
        return invoices
    return invoices.filter(customer=user).exclude(status=Invoice.Status.HELD)


def invoice_list(*, device: Device, user: User) -> QuerySet[Invoice]:
    """A meter's invoices; a customer sees those issued to them (a reassigned meter's older bills stay private),
    never one held for review."""
    return _visible(Invoice.objects.filter(device=device).select_related("device"), user).order_by("-month")


def invoice_list_for_customer(*, user: User) -> QuerySet[Invoice]:
    """Every invoice issued to this person, including those of meters since reassigned or retired;
    held ones only when the person is staff."""
    invoices = Invoice.objects.filter(customer=user).select_related("device")
    if not user.is_staff:
        invoices = invoices.exclude(status=Invoice.Status.HELD)
    return invoices.order_by("-month", "device__device_id")


def invoice_get_visible(*, user: User, number: str) -> Invoice | None:
    """The invoice if the user may see it (the customer billed, or staff); None otherwise, as if absent.

    A bill held for review does not exist for its customer until staff release it.
    """
    return _visible(Invoice.objects.select_related("device"), user).filter(number=number).first()


def note_get_visible(*, user: User, number: str) -> Note | None:
    """The credit or debit note if the user may see it (the account's customer, or staff); None otherwise."""
    notes = Note.objects.select_related("account__customer", "invoice__device")
    if not user.is_staff:
        notes = notes.filter(account__customer=user)
    return notes.filter(number=number).first()


@dataclass(frozen=True)
class InvoiceTally:
    status: str
    label: str
    count: int
    amount: Decimal


def invoice_tallies(*, created_from: datetime, created_until: datetime) -> list[InvoiceTally]:
    """Invoices created in [created_from, created_until), counted and summed per status (every status), in one query."""
    totals = Invoice.objects.filter(created_at__gte=created_from, created_at__lt=created_until).aggregate(
        **{
            f"{status}_{what}": aggregate(value, filter=Q(status=status))
            for status, _ in Invoice.Status.choices
            for what, aggregate, value in (("count", Count, "pk"), ("amount", Sum, "total"))
        }
    )
    return [
        InvoiceTally(
            status=status,
            label=label,
            count=totals[f"{status}_count"] or 0,
            amount=totals[f"{status}_amount"] or Decimal("0.00"),
        )
        for status, label in Invoice.Status.choices
    ]


def meter_usage_history(*, device: Device, until_month: date, months: int = 12) -> list[UsageMonth]:
    """The meter's billed energy for the ``months`` months up to and including ``until_month``, oldest first,
    from its invoices (estimated ones marked). The list starts at the first month in that window with an
    invoice; a month in between without one has ``energy_kwh`` None. Other bills held for review are left
    out (they are not issued yet). One query."""
    first = until_month
    for _ in range(months - 1):
        first = previous_month_of(first)
    billed = {
        month: (energy, estimated)
        for month, energy, estimated in Invoice.objects.filter(device=device, month__gte=first, month__lte=until_month)
        .exclude(Q(status=Invoice.Status.HELD) & Q(month__lt=until_month))
        .values_list("month", "energy_kwh", "estimated")
    }
    history: list[UsageMonth] = []
    month = first
    while month <= until_month:
        if month in billed or history:
            energy, estimated = billed.get(month, (None, False))
            history.append(
                UsageMonth(month=month, energy_kwh=energy, estimated=estimated, current=month == until_month)
            )
        month = next_month(month)
    return history


# --- Bills held for review ------------------------------------------------------

TRAILING_MONTHS = 3


def invoices_held() -> QuerySet[Invoice]:
    return Invoice.objects.filter(status=Invoice.Status.HELD)


def invoices_held_count() -> int:
    return invoices_held().count()


def invoices_trailing_average_kwh(invoices: list[Invoice]) -> dict[int, Decimal | None]:
    """Per invoice: the mean billed energy of its meter's bills of the TRAILING_MONTHS months before
    (those that exist), or None when there is none. One query for all the listed invoices."""
    if not invoices:
        return {}
    earliest = min(invoice.month for invoice in invoices)
    for _ in range(TRAILING_MONTHS):
        earliest = previous_month_of(earliest)
    earlier: dict[int, dict[date, Decimal]] = {}
    rows = Invoice.objects.filter(
        device_id__in={invoice.device_id for invoice in invoices},
        month__gte=earliest,
        month__lt=max(invoice.month for invoice in invoices),
    ).values_list("device_id", "month", "energy_kwh")
    for device_id, month, energy in rows:
        earlier.setdefault(device_id, {})[month] = energy
    averages: dict[int, Decimal | None] = {}
    for invoice in invoices:
        window, month = [], invoice.month
        for _ in range(TRAILING_MONTHS):
            month = previous_month_of(month)
            if month in earlier.get(invoice.device_id, {}):
                window.append(earlier[invoice.device_id][month])
        averages[invoice.pk] = (sum(window) / len(window)).quantize(Decimal("0.001")) if window else None
    return averages


# A month of readings every few seconds is too many to draw: past this, the chart samples the month.
REVIEW_CHART_RAW_LIMIT = 20_000
REVIEW_CHART_SLICES = 400


def _register_points(device_id: str, start: datetime, end: datetime) -> tuple[list[tuple[datetime, Decimal]], bool]:
    """(timestamp, register) of the meter's raw readings in [start, end], and whether they were sampled."""

    def raw(since: datetime, until: datetime, limit: int) -> list[tuple[datetime, Decimal]]:
        rows = readings_selectors.readings_series(device_id=device_id, start=since, end=until, agg="raw", limit=limit)
        return [(row["timestamp"], Decimal(str(row["energy_kwh"]))) for row in rows]

    until = end + timedelta(microseconds=1)  # the closing reading is at `end`
    points = raw(start, until, REVIEW_CHART_RAW_LIMIT + 1)
    if len(points) <= REVIEW_CHART_RAW_LIMIT:
        return points, False
    # The first reading of each of REVIEW_CHART_SLICES equal slices, and the closing one.
    step = (until - start) / REVIEW_CHART_SLICES
    sampled = []
    for n in range(REVIEW_CHART_SLICES):
        sampled += raw(start + step * n, start + step * (n + 1), 1)
    last = raw(end, until, 1)
    if last and (not sampled or sampled[-1][0] != last[0][0]):
        sampled += last
    return sampled, True


def invoice_excluded_rows(*, invoice: Invoice) -> list[dict]:
    """The readings the bill left out, with aware datetimes and Decimal registers: [{at, register, kind, reason}]."""
    rows = []
    for row in invoice.excluded_readings:
        if not row.get("timestamp") or row.get("register") is None:
            continue
        at = datetime.fromisoformat(row["timestamp"])
        if timezone.is_naive(at):
            at = at.replace(tzinfo=UTC)
        rows.append(
            {
                "at": at,
                "register": Decimal(str(row["register"])),
                "kind": row.get("kind") or "excluded",
                "reason": row.get("reason", ""),
            }
        )
    return rows


@dataclass(frozen=True)
class ReviewChart:
    chart: RegisterChart
    start: datetime
    end: datetime
    sampled: bool
    slices: int


def invoice_review_chart(*, invoice: Invoice) -> ReviewChart:
    """The meter's registers from the previous month's closing read to this bill's closing read,
    with the readings the bill left out and its opening and closing registers."""
    month_start, month_end = month_period(invoice.month)
    previous = (
        Invoice.objects.filter(device_id=invoice.device_id, month=previous_month_of(invoice.month))
        .only("closing_at", "last_reading_at")
        .first()
    )
    start = (previous.closing_at or previous.last_reading_at) if previous else None
    start = start or invoice.first_reading_at or month_start
    end = invoice.closing_at or invoice.last_reading_at or month_end
    points, sampled = _register_points(invoice.device.device_id, start, end)
    excluded = [(row["at"], row["register"], row["kind"]) for row in invoice_excluded_rows(invoice=invoice)]
    chart = register_chart(
        start=start,
        end=end,
        readings=points,
        excluded=excluded,
        opening=(start, invoice.start_register) if invoice.start_register is not None else None,
        closing=(end, invoice.end_register) if invoice.end_register is not None else None,
        tz=billing_zone(),
    )
    return ReviewChart(chart=chart, start=start, end=end, sampled=sampled, slices=REVIEW_CHART_SLICES)
