"""Billing months: parsing ``YYYY-MM`` and the instants a month spans in a time zone (pure)."""

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

MONTH_PATTERN = re.compile(r"^([0-9]{4})-([0-9]{2})$")


class MonthInvalid(ValueError):
    pass


def parse_month(text: str) -> date:
    """``"2025-01"`` -> ``date(2025, 1, 1)``; anything else raises MonthInvalid with a readable reason."""
    match = MONTH_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise MonthInvalid(f"'{text}' is not a month: use YYYY-MM, for example 2025-01.")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise MonthInvalid(f"'{text}' has no month {month}: use 01 to 12.")
    if year < 2000:
        raise MonthInvalid(f"'{text}' is before 2000: no meter of this utility was billed then.")
    return date(year, month, 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month_of(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month as a half-open interval [start, end) of aware instants: midnight of the 1st to the next 1st."""
    start = datetime.combine(month.replace(day=1), time.min, tzinfo=tz)
    end = datetime.combine(next_month(month), time.min, tzinfo=tz)
    return start, end


def month_containing(instant: datetime, tz: ZoneInfo) -> date:
    local = instant.astimezone(tz)
    return date(local.year, local.month, 1)


def last_complete_month(now: datetime, tz: ZoneInfo) -> date:
    """The month billed by default: the one before the month ``now`` falls in (in ``tz``)."""
    return previous_month_of(month_containing(now, tz))
