"""How this month compares: the same days of last month and of the same month last year, the
daily average and the hour of day a meter uses most (docs/dashboard.md#comparisons).

Every figure comes from the readings selector's consumption; a figure the readings do not
cover is None with the reason, never a zero standing in for missing data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils import timezone

from billing.months import month_containing, next_month, previous_month_of
from billing.zone import billing_zone
from readings import selectors as readings_selectors

if TYPE_CHECKING:
    from readings.types import Consumption

# A span counts as covered when the readings span at least this share of it: a meter that
# started (or stopped) reporting part way through would otherwise look like low use.
COVERAGE_SHARE = Decimal("0.9")
PEAK_HOUR_WINDOW = timedelta(days=30)
# Each hour of the day needs buckets from this many days before one hour is called the peak.
PEAK_HOUR_MIN_DAYS = 3

NO_READINGS = "no readings"
PARTIAL_READINGS = "readings cover only part of these days"
LESS_THAN_A_DAY = "less than a day of readings"
SAME_EVERY_HOUR = "the same use at every hour"
TOO_FEW_DAYS = f"fewer than {PEAK_HOUR_MIN_DAYS} days of hourly readings in the last 30 days"


@dataclass(frozen=True)
class Figure:
    """kWh, or None and why (``reason``)."""

    kwh: Decimal | None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.kwh is not None


@dataclass(frozen=True)
class Span:
    """The first days of a month compared: [start, end) in the billing time zone."""

    month: date
    start: datetime
    end: datetime

    @property
    def month_label(self) -> str:
        return f"{self.month:%B %Y}"


@dataclass(frozen=True)
class Change:
    """This month's figure against another month's over the same days."""

    label: str  # "the same days last month"
    span: Span
    current: Figure
    other: Figure

    @property
    def percent(self) -> Decimal | None:
        """Signed percent change, whole percent; None when either figure is missing or the other is zero."""
        return percent_change(current=self.current, other=self.other)

    @property
    def signed_percent(self) -> str:
        """ "+12%", "−8%", "0%"; empty when there is no percent."""
        change = self.percent
        if change is None:
            return ""
        return f"+{change}%" if change > 0 else f"−{abs(change)}%" if change < 0 else "0%"

    @property
    def sentence(self) -> str:
        """ "12% more than the same days last month", "about the same as …", or
        "not enough data to compare with … (why)"."""
        return change_sentence(current=self.current, other=self.other, label=self.label)


@dataclass(frozen=True)
class MeterComparison:
    device_id: str
    span: Span  # this month's days compared
    this_month: Figure
    last_month: Change
    last_year: Change
    daily_average: Figure
    peak_hour: int | None  # local hour 0-23 with the highest average use over the last 30 days
    peak_hour_reason: str = ""

    @property
    def days(self) -> Decimal:
        """The days compared, to a tenth (today counts as the part of it gone)."""
        return _days(self.span)

    @property
    def changes(self) -> tuple[Change, Change]:
        return self.last_month, self.last_year

    @property
    def peak_hour_sentence(self) -> str:
        """Why no busiest hour is shown; empty when one is."""
        if self.peak_hour is not None:
            return ""
        if self.peak_hour_reason == SAME_EVERY_HOUR:
            return f"Busiest hour: none, {SAME_EVERY_HOUR} over the last 30 days."
        return f"Busiest hour: not enough data ({self.peak_hour_reason})."

    @property
    def peak_hour_label(self) -> str:
        if self.peak_hour is None:
            return ""
        return f"{self.peak_hour:02d}:00–{(self.peak_hour + 1) % 24:02d}:00"


@dataclass(frozen=True)
class AccountChange:
    change: Change
    meters_included: int
    meters_total: int


@dataclass(frozen=True)
class AccountComparison:
    last_month: AccountChange
    last_year: AccountChange

    @property
    def changes(self) -> tuple[AccountChange, AccountChange]:
        return self.last_month, self.last_year


def percent_change(*, current: Figure, other: Figure) -> Decimal | None:
    if not (current.known and other.known) or other.kwh == 0:
        return None
    return ((current.kwh - other.kwh) / other.kwh * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def change_sentence(*, current: Figure, other: Figure, label: str) -> str:
    for figure in (other, current):
        if not figure.known:
            return f"not enough data to compare with {label} ({figure.reason})"
    if other.kwh == 0:
        return f"none used on {label}" if current.kwh else f"no use, as on {label}"
    change = percent_change(current=current, other=other)
    if change == 0:
        return f"about the same as {label}"
    return f"{abs(change)}% {'more' if change > 0 else 'less'} than {label}"


def comparison_spans(*, now: datetime, tz: ZoneInfo) -> tuple[Span, Span, Span]:
    """This month so far and the same days (same day count, same time of day) of last month and
    of the same month last year. On the 29th-31st the days are capped at the shorter month's length,
    so the three spans always have the same length on the wall clock."""
    month = month_containing(now, tz)
    others = (previous_month_of(month), date(month.year - 1, month.month, 1))
    elapsed = now.astimezone(tz).replace(tzinfo=None) - datetime.combine(month, time.min)
    shortest = min(next_month(other) - other for other in others)
    elapsed = min(elapsed, shortest)

    def span(first: date) -> Span:
        start = datetime.combine(first, time.min)
        return Span(first, start.replace(tzinfo=tz), (start + elapsed).replace(tzinfo=tz))

    return span(month), span(others[0]), span(others[1])


def _figure(consumption: Consumption, span: Span) -> Figure:
    if not consumption.has_readings or consumption.opened_at is None or consumption.closed_at is None:
        return Figure(None, NO_READINGS)
    length = (span.end - span.start).total_seconds()
    covered = (consumption.closed_at - consumption.opened_at).total_seconds()
    if length <= 0 or Decimal(covered) < COVERAGE_SHARE * Decimal(length):
        return Figure(None, PARTIAL_READINGS)
    return Figure(consumption.energy_kwh)


def _consumption(device_ids: list[str], span: Span) -> dict[str, Consumption]:
    return readings_selectors.devices_consumption(device_ids=device_ids, start=span.start, end=span.end)


def _days(span: Span) -> Decimal:
    return (Decimal((span.end - span.start).total_seconds()) / 86400).quantize(Decimal("0.1"))


def meter_comparison(*, device_id: str, now: datetime | None = None) -> MeterComparison:
    now = now or timezone.now()
    tz = billing_zone()
    current_span, last_month_span, last_year_span = comparison_spans(now=now, tz=tz)
    current_consumption = _consumption([device_id], current_span)[device_id]
    current = _figure(current_consumption, current_span)
    last_month = _figure(_consumption([device_id], last_month_span)[device_id], last_month_span)
    last_year = _figure(_consumption([device_id], last_year_span)[device_id], last_year_span)
    peak_hour, peak_reason = _peak_hour(device_id=device_id, now=now, tz=tz)
    return MeterComparison(
        device_id=device_id,
        span=current_span,
        this_month=current,
        last_month=Change("the same days last month", last_month_span, current, last_month),
        last_year=Change(f"the same days of {last_year_span.month_label}", last_year_span, current, last_year),
        daily_average=_daily_average(current_consumption),
        peak_hour=peak_hour,
        peak_hour_reason=peak_reason,
    )


def _daily_average(consumption: Consumption) -> Figure:
    """This month's kWh per day over the time its readings cover (a meter added mid-month is not
    averaged over days it did not report)."""
    if not consumption.has_readings or consumption.opened_at is None or consumption.closed_at is None:
        return Figure(None, NO_READINGS)
    covered_days = Decimal((consumption.closed_at - consumption.opened_at).total_seconds()) / 86400
    if covered_days < 1:
        return Figure(None, LESS_THAN_A_DAY)
    return Figure((consumption.energy_kwh / covered_days).quantize(Decimal("0.001")))


def _peak_hour(*, device_id: str, now: datetime, tz: ZoneInfo) -> tuple[int | None, str]:
    """The local hour (billing time zone) with the highest average hourly use over the last 30 days."""
    buckets = readings_selectors.readings_series(
        device_id=device_id, start=now - PEAK_HOUR_WINDOW, end=now, agg="hour", tz=tz
    )
    by_hour: dict[int, list[Decimal]] = defaultdict(list)
    for bucket in buckets:
        if bucket["energy_kwh"] is not None:
            by_hour[bucket["bucket"].astimezone(tz).hour].append(Decimal(bucket["energy_kwh"]))
    if len(by_hour) < 24 or min(len(values) for values in by_hour.values()) < PEAK_HOUR_MIN_DAYS:
        return None, TOO_FEW_DAYS
    averages = {hour: sum(values) / len(values) for hour, values in by_hour.items()}
    best = max(averages.values())
    if best == min(averages.values()):
        return None, SAME_EVERY_HOUR
    return min(hour for hour, average in averages.items() if average == best), ""


def account_comparison(*, device_ids: list[str], now: datetime | None = None) -> AccountComparison | None:
    """All the customer's meters together, each comparison summing only the meters whose readings
    cover both periods; None with no meters. Three consumption reads whatever the number of meters."""
    if not device_ids:
        return None
    now = now or timezone.now()
    current_span, last_month_span, last_year_span = comparison_spans(now=now, tz=billing_zone())
    current = _consumption(device_ids, current_span)
    figures_now = {device_id: _figure(current[device_id], current_span) for device_id in device_ids}

    def total(span: Span, label: str) -> AccountChange:
        found = _consumption(device_ids, span)
        pairs = [(figures_now[each], _figure(found[each], span)) for each in device_ids]
        both = [(this, other) for this, other in pairs if this.known and other.known]
        if not both:
            empty = Figure(None, "no meter has readings for both periods")
            return AccountChange(Change(label, span, empty, empty), 0, len(device_ids))
        this_total = Figure(sum((this.kwh for this, _ in both), Decimal(0)))
        other_total = Figure(sum((other.kwh for _, other in both), Decimal(0)))
        return AccountChange(Change(label, span, this_total, other_total), len(both), len(device_ids))

    return AccountComparison(
        last_month=total(last_month_span, "the same days last month"),
        last_year=total(last_year_span, f"the same days of {last_year_span.month_label}"),
    )
