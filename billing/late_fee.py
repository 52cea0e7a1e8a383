"""Late-payment surcharge arithmetic: pure functions over Decimal and dates (no ORM, settings or I/O).

A charge overdue on a day is surcharged ``open amount x monthly rate`` for each month or part of a
month since its due date. Months are counted from the due date (period k runs from due + k-1
months, exclusive, to due + k months, inclusive) and each note records the periods it charged,
so a later note charges only the months after them. Rules: docs/billing.md#late-payment-surcharge.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

MONEY = Decimal("0.01")
ZERO = Decimal("0.00")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_started(due: date, on: date) -> int:
    """How many months, each counted whole once begun, run from ``due`` to ``on`` (0 when not past due)."""
    if on <= due:
        return 0
    months = (on.year - due.year) * 12 + on.month - due.month
    return months if add_months(due, months) >= on else months + 1


@dataclass(frozen=True, slots=True)
class OverdueCharge:
    """An open charge as the surcharge sees it; ``covered_until`` ends the periods already surcharged."""

    document: str
    open_amount: Decimal
    due_date: date
    covered_until: date | None = None


@dataclass(frozen=True, slots=True)
class SurchargeLine:
    document: str
    open_amount: Decimal
    start: date  # the periods charged run from here (exclusive) ...
    until: date  # ... to here (inclusive)
    months: int
    amount: Decimal

    def as_detail(self) -> dict:
        """The line as a debit note's ``detail["charges"]`` records it (read back by ``coverage_from_details``)."""
        return {
            "document": self.document,
            "open_amount": str(self.open_amount),
            "from": self.start.isoformat(),
            "until": self.until.isoformat(),
            "months": self.months,
            "amount": str(self.amount),
        }


def surcharge_lines(
    charges: Iterable[OverdueCharge], *, rate: Decimal, on: date, grace_days: int = 0
) -> list[SurchargeLine]:
    """The surcharge due on ``on`` for each charge more than ``grace_days`` past its due date, for the months
    not yet covered; charges with nothing to add are left out. Each amount is rounded to the paisa, half up."""
    lines = []
    for charge in charges:
        if charge.open_amount <= ZERO or (on - charge.due_date).days <= grace_days:
            continue
        total = months_started(charge.due_date, on)
        already = months_started(charge.due_date, charge.covered_until) if charge.covered_until else 0
        months = total - already
        if months <= 0:
            continue
        amount = (charge.open_amount * rate * months).quantize(MONEY, rounding=ROUND_HALF_UP)
        if amount <= ZERO:
            continue
        lines.append(
            SurchargeLine(
                document=charge.document,
                open_amount=charge.open_amount,
                start=add_months(charge.due_date, already),
                until=add_months(charge.due_date, total),
                months=months,
                amount=amount,
            )
        )
    return lines


def coverage_from_details(details: Iterable[dict]) -> dict[str, date]:
    """The last day surcharged for each document, read from earlier notes' ``detail`` values."""
    covered: dict[str, date] = {}
    for detail in details:
        for line in (detail or {}).get("charges", []):
            until = date.fromisoformat(line["until"])
            if line["document"] not in covered or until > covered[line["document"]]:
                covered[line["document"]] = until
    return covered
