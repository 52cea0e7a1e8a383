"""The billing run's plan: what to do for each meter, decided from facts gathered beforehand.

Deciding is pure (no queries, no I/O): ``runs.py`` gathers the facts of a chunk
of meters in a few bulk queries, asks ``plan_meters`` for the actions and
carries them out; ``run_billing --dry-run`` prints them instead.
The long story: docs/billing.md#the-billing-run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from billing.calculation import Bill, TariffTerms, calculate_bill
from billing.selectors import billed_energy
from readings.types import Consumption

SKIP_REGISTERED_AFTER = "registered after the month, no readings in it"
SKIP_DECOMMISSIONED = "decommissioned before the month"
SKIP_UNCLAIMED = "not claimed by a customer yet"


# --- Facts: what the run knows about a meter before deciding ------------------


@dataclass(frozen=True, slots=True)
class ExistingInvoice:
    """The month's invoice a meter already has."""

    pk: int
    number: str
    emailed: bool


@dataclass(frozen=True, slots=True)
class MeterFacts:
    device_id: str
    registered_at: datetime
    invoice: ExistingInvoice | None
    consumption: Consumption | None  # read only for meters without the month's invoice


# --- Actions: what the run does for a meter ----------------------------------


@dataclass(frozen=True, slots=True)
class IssueInvoice:
    """Issue the month's invoice (PDF, row, email); ``bill`` is what it will charge."""

    device_id: str
    consumption: Consumption
    bill: Bill

    @property
    def no_readings(self) -> bool:
        return not self.consumption.has_readings


@dataclass(frozen=True, slots=True)
class AlreadyBilled:
    """The invoice exists and was emailed: nothing to do."""

    device_id: str


@dataclass(frozen=True, slots=True)
class ResendInvoiceEmail:
    """The invoice exists but its email never went out (a mail outage, a crash): send it now."""

    device_id: str
    invoice_pk: int
    invoice_number: str


@dataclass(frozen=True, slots=True)
class SkipMeter:
    """Not billed this month, for ``reason`` (reported per reason on the run record)."""

    device_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CannotBill:
    """The tariff cannot bill this consumption: the meter fails, the run goes on."""

    device_id: str
    error: str


MeterAction = IssueInvoice | AlreadyBilled | ResendInvoiceEmail | SkipMeter | CannotBill


def plan_meter(facts: MeterFacts, *, month_end: datetime, terms: TariffTerms) -> MeterAction:
    """What to do for one meter of a month ending at ``month_end``, billed under ``terms``."""
    if facts.invoice is not None:
        if facts.invoice.emailed:
            return AlreadyBilled(device_id=facts.device_id)
        return ResendInvoiceEmail(
            device_id=facts.device_id, invoice_pk=facts.invoice.pk, invoice_number=facts.invoice.number
        )
    consumption = facts.consumption
    if consumption is None:
        raise ValueError(f"Meter {facts.device_id} has neither an invoice nor a consumption to plan from.")
    if not consumption.has_readings and facts.registered_at >= month_end:
        return SkipMeter(device_id=facts.device_id, reason=SKIP_REGISTERED_AFTER)
    try:
        bill = calculate_bill(billed_energy(consumption), terms)
    except ValueError as exc:  # a negative consumption: this meter fails alone
        return CannotBill(device_id=facts.device_id, error=f"{type(exc).__name__}: {exc}")
    return IssueInvoice(device_id=facts.device_id, consumption=consumption, bill=bill)


def plan_meters(facts: Iterable[MeterFacts], *, month_end: datetime, terms: TariffTerms) -> list[MeterAction]:
    """One action per meter, in the order given."""
    return [plan_meter(meter, month_end=month_end, terms=terms) for meter in facts]
