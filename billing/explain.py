"""An invoice's estimate, adjustment, credit, split month, tax line and account summary in plain words
(no database reads).

One wording for the invoice PDF, the invoice email, the customer's invoices page and the
API's readers: docs/billing.md#reading-your-bill says the same with examples.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.templatetags.billing_format import format_inr, kwh
from billing.words import amount_in_words
from billing.zone import billing_zone

ADJUSTMENT_HEADING = "Adjustment for earlier estimated bills"

# What an estimated bill's energy was computed from (Invoice.estimate_basis).
ESTIMATE_BASES = {
    "trailing_90_days": "your average daily use over the last 90 days",
    "same_month_last_year": "your use in the same month last year",
    "tariff_default": "the standard monthly use the tariff sets for a connection with no history yet",
}
ESTIMATE_BASIS_UNKNOWN = "your earlier use"


def _money(value) -> Decimal:
    return Decimal(str(value))


def month_days(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def issue_day(invoice) -> date:
    return invoice.created_at.astimezone(billing_zone()).date()


def estimate_sentence(invoice) -> str:
    """Why the bill is estimated and what happens next; '' for a bill from actual readings."""
    if not invoice.estimated:
        return ""
    basis = ESTIMATE_BASES.get(invoice.estimate_basis, ESTIMATE_BASIS_UNKNOWN)
    return (
        f"No meter reading reached us by {issue_day(invoice):%-d %b %Y}; this bill is estimated from {basis}. "
        "Your next bill corrects it to the actual reading."
    )


@dataclass(frozen=True)
class AdjustmentLine:
    """One earlier estimated month corrected on this bill."""

    month: date
    estimated_kwh: Decimal
    actual_kwh: Decimal
    kwh: Decimal  # actual minus estimated
    amount: Decimal  # signed, tax included

    def month_name(self, *, billed_month: date) -> str:
        return f"{self.month:%B}" if self.month.year == billed_month.year else f"{self.month:%B %Y}"

    def sentence(self, *, billed_month: date) -> str:
        if self.amount < 0:
            effect = f"so this bill takes off {format_inr(-self.amount)}"
        elif self.amount > 0:
            effect = f"so this bill adds {format_inr(self.amount)}"
        else:
            effect = "so this bill is not changed by it"
        return (
            f"Your {self.month_name(billed_month=billed_month)} bill was estimated at {kwh(self.estimated_kwh)} kWh; "
            f"the actual reading shows {kwh(self.actual_kwh)} kWh, {effect}."
        )


def adjustment_lines(invoice) -> list[AdjustmentLine]:
    lines = []
    for row in invoice.adjustment_detail or []:
        year, month = (int(part) for part in str(row["month"]).split("-")[:2])
        lines.append(
            AdjustmentLine(
                month=date(year, month, 1),
                estimated_kwh=_money(row["estimated_kwh"]),
                actual_kwh=_money(row["actual_kwh"]),
                kwh=_money(row["kwh"]),
                amount=_money(row["amount"]),
            )
        )
    return lines


def credit_sentences(invoice) -> list[str]:
    sentences = []
    if invoice.credit_applied:
        sentences.append(f"{format_inr(invoice.credit_applied)} of credit from earlier bills is taken off this bill.")
    if invoice.credit_carried:
        sentences.append(
            f"{format_inr(invoice.credit_carried)} of credit is left over and will be taken off your next bill."
        )
    return sentences


def split_sentence(invoice) -> str:
    """Why a month is billed in parts, in plain words; empty for a plain month."""
    lines = part_lines(invoice)
    if len(lines) < 2:
        return ""
    changes = ", ".join(f"{line.first_day:%-d %B}" for line in lines[1:])
    parts = "; ".join(f"{line.first_day:%-d} to {line.last_day:%-d %B}: {line.energy_kwh} kWh" for line in lines)
    return (
        f"The tariff changed on {changes}, so this bill is in {len(lines)} parts ({parts}), each at its own"
        " rates, with its share of the slabs and of the fixed charge."
    )


def invoice_explanations(invoice) -> list[str]:
    """Every plain-words note the bill needs, in reading order: estimate, split, adjustments, credit."""
    sentences = [estimate_sentence(invoice)] if invoice.estimated else []
    split = split_sentence(invoice)
    sentences += [split] if split else []
    sentences += [line.sentence(billed_month=invoice.month) for line in adjustment_lines(invoice)]
    return sentences + credit_sentences(invoice)


def fixed_charge_label(invoice) -> str:
    """'Fixed charge', or 'Fixed charge for 12 of 31 days' when the meter was in service part of the month;
    a charge per kW names its count: 'Fixed charge: 5.00 kW × ₹40.00' (then ', for 12 of 31 days')."""
    label = "Fixed charge"
    per_kw_count = getattr(invoice, "fixed_charge_kw", None) is not None and invoice.fixed_charge_rate is not None
    if per_kw_count and not invoice.parts:  # a split month counts it per part
        label += f": {per_kw(invoice.fixed_charge_kw, invoice.fixed_charge_rate)}"
        if invoice.service_days is not None:
            label += ","
    if invoice.service_days is None:
        return label
    return f"{label} for {invoice.service_days} of {month_days(invoice.month)} days"


def per_kw(load_kw, rate) -> str:
    """``5.00 kW × ₹40.00``: how a fixed charge per kW of sanctioned load was counted."""
    return f"{_money(load_kw).quantize(Decimal('0.01'))} kW × {format_inr(rate)}"


def slab_style_sentence(invoice) -> str:
    """Why one slab carries every unit on a non-telescopic bill; empty for a telescopic one."""
    if getattr(invoice, "slab_style", "") != "non_telescopic":
        return ""
    return "Non-telescopic tariff: every unit is charged at the rate of the slab your month's total falls in."


@dataclass(frozen=True)
class PartLine:
    """One part of a split month: its days, tariff version, energy, slab lines and prorated fixed charge."""

    number: int
    first_day: date
    last_day: date
    days: int
    month_days: int
    tariff_effective_from: date | None
    energy_kwh: Decimal
    slabs: list[dict]
    subtotal: Decimal
    fixed_charge: Decimal
    minimum_top_up: Decimal = Decimal("0.00")
    fixed_charge_kw: Decimal | None = None
    fixed_charge_rate: Decimal | None = None

    @property
    def fixed_charge_label(self) -> str:
        if self.fixed_charge_kw is not None and self.fixed_charge_rate is not None:
            count = per_kw(self.fixed_charge_kw, self.fixed_charge_rate)
            return f"Fixed charge: {count}, for {self.days} of {self.month_days} days"
        return f"Fixed charge for {self.days} of {self.month_days} days"


def _local_day(instant: str, *, end: bool = False) -> date:
    moment = datetime.fromisoformat(instant)
    if end:  # `until` is exclusive: the part's last day is the one before it
        moment -= timedelta(microseconds=1)
    return moment.astimezone(billing_zone()).date()


def part_lines(invoice) -> list[PartLine]:
    lines = []
    for number, part in enumerate(invoice.parts or [], start=1):
        effective_from = part.get("effective_from")
        lines.append(
            PartLine(
                number=number,
                first_day=_local_day(part["from"]),
                last_day=_local_day(part["until"], end=True),
                days=int(part["days"]),
                month_days=month_days(invoice.month),
                tariff_effective_from=date.fromisoformat(effective_from) if effective_from else None,
                energy_kwh=_money(part["energy_kwh"]),
                slabs=[
                    {**row, "units": _money(row["units"]), "rate": _money(row["rate"]), "charge": _money(row["charge"])}
                    for row in part.get("slabs") or []
                ],
                subtotal=_money(part["subtotal"]),
                fixed_charge=_money(part["fixed_charge"]),
                minimum_top_up=_money(part.get("minimum_top_up") or "0.00"),
                fixed_charge_kw=_optional_money(part.get("fixed_charge_kw")),
                fixed_charge_rate=_optional_money(part.get("fixed_charge_rate")),
            )
        )
    return lines


def _optional_money(value) -> Decimal | None:
    return None if value is None else _money(value)


def percent(rate) -> str:
    """A rate as printed before its tax's name: ``0.18`` -> ``18``, ``0.1`` -> ``10``, ``0.055`` -> ``5.5``."""
    return f"{(_money(rate) * 100).normalize():f}"


def tax_line_label(invoice) -> str:
    """The tax line's name on the bill, as utilities print it: "18% GST", "5% Electricity duty"."""
    return f"{percent(invoice.tax_rate)}% {invoice.tax_label or 'tax'}"


@dataclass(frozen=True)
class AccountSummary:
    """The account as the bill prints it: the balance on the last bill, what was paid and charged since,
    this bill, and what is due now. The lines add up: previous - payments + adjustments + this bill = due."""

    previous_balance: Decimal
    payments_since: Decimal  # positive: payments less reversals
    adjustments_since: Decimal  # debit notes (late-payment surcharges, corrections) less credit notes
    this_bill: Decimal
    amount_due: Decimal  # negative: credit in the customer's favour
    due_date: date

    @property
    def in_credit(self) -> bool:
        return self.amount_due < 0

    @property
    def credit(self) -> Decimal:
        return -self.amount_due

    @property
    def amount_due_words(self) -> str:
        return amount_in_words(self.amount_due)


def account_summary(invoice) -> AccountSummary | None:
    """The summary from the balances the invoice kept at issue; None for a bill issued before accounts
    were kept (it prints only its own total)."""
    if invoice.previous_balance is None or invoice.payments_since is None or invoice.amount_due is None:
        return None
    previous, payments, due, total = (
        _money(value) for value in (invoice.previous_balance, invoice.payments_since, invoice.amount_due, invoice.total)
    )
    return AccountSummary(
        previous_balance=previous,
        payments_since=payments,
        adjustments_since=due - previous + payments - total,
        this_bill=total,
        amount_due=due,
        due_date=invoice.due_date,
    )
