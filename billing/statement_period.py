"""The period an account statement covers: the default (the last 12 months) and what a requested period
must satisfy. Pure: the pages and the API both ask here. Rules: docs/billing.md#statements."""

from __future__ import annotations

from datetime import date, timedelta

MAX_STATEMENT_DAYS = 5 * 366  # five years at most in one statement
EARLIEST_STATEMENT_DAY = date(2000, 1, 1)


def statement_period_default(*, today: date) -> tuple[date, date]:
    """From the same day a year ago (28 February for a 29th) to today."""
    try:
        start = today.replace(year=today.year - 1)
    except ValueError:
        start = today.replace(year=today.year - 1, day=28)
    return start, today


def statement_period_problems(*, start: date, end: date, today: date) -> dict[str, str]:
    """Field -> what is wrong with it (empty: the period is fine)."""
    problems = {}
    if start > end:
        problems["from"] = f"The start ({start:%d %b %Y}) must be on or before the end ({end:%d %b %Y})."
    elif (end - start) > timedelta(days=MAX_STATEMENT_DAYS):
        problems["from"] = "A statement covers at most five years; choose a shorter period."
    if start < EARLIEST_STATEMENT_DAY:
        problems.setdefault("from", f"The start must be on or after {EARLIEST_STATEMENT_DAY:%d %b %Y}.")
    if end > today:
        problems["to"] = f"The end must be today ({today:%d %b %Y}) or earlier."
    return problems


def statement_filename(*, consumer_number: str, start: date, end: date, extension: str) -> str:
    return f"statement-{consumer_number}-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}.{extension}"
