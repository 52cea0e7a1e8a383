"""The billing run's plan: what to do for each meter, decided from facts gathered beforehand.

Deciding is pure (no queries, no I/O): ``runs.py`` gathers the facts of a chunk
of meters in a few bulk queries (``run_facts.py``), asks ``plan_meters`` for the
actions and carries them out; ``run_billing --dry-run`` prints them instead.
The rules: docs/billing.md#the-billing-run (closing reads, estimates, true-up,
review, mid-month changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.calculation import (
    ZERO,
    Bill,
    BillPart,
    Settlement,
    TariffTerms,
    adjustment_amount,
    calculate_split_bill,
    day_share,
    round_energy,
    settle,
)
from billing.estimates import Estimate, LastYear, RecentUse, estimate_energy
from billing.review_rules import BillSigns, ReviewThresholds, review_reasons
from readings.types import Consumption

SKIP_REGISTERED_AFTER = "registered after the month, no readings in it"
SKIP_DECOMMISSIONED = "decommissioned before the month"
SKIP_UNCLAIMED = "not claimed by a customer yet"
SKIP_EXCHANGED = "exchanged during the month: billed on the new meter's invoice"
AWAITING_CLOSING_READ = "awaiting closing read"

TRAILING_BILLS = 3  # actual bills averaged for the review's comparison


# --- Facts: what the run knows before deciding ---------------------------------


@dataclass(frozen=True, slots=True)
class TariffPart:
    """A stretch of the month under one tariff version: the whole month, or one side of a change."""

    start: datetime
    end: datetime
    days: int
    tariff_id: int
    effective_from: date
    terms: TariffTerms
    estimate_default_kwh: Decimal
    review_ceiling: Decimal | None


@dataclass(frozen=True, slots=True)
class MonthContext:
    """What is the same for every meter of a run."""

    month: date
    start: datetime
    end: datetime
    days: int
    parts: tuple[TariffPart, ...]  # in time order, covering [start, end)
    now: datetime
    grace: timedelta
    thresholds: ReviewThresholds
    zone: object  # the billing time zone (a tzinfo)

    @property
    def split(self) -> bool:
        return len(self.parts) > 1


@dataclass(frozen=True, slots=True)
class ExistingInvoice:
    """The month's invoice a meter already has."""

    pk: int
    number: str
    emailed: bool
    held: bool = False


@dataclass(frozen=True, slots=True)
class PastBill:
    """An earlier invoice of the meter, as far as this month's bill depends on it."""

    month: date
    energy_kwh: Decimal
    estimated: bool
    start_register: Decimal | None
    end_register: Decimal | None
    closing_at: datetime | None
    subtotal: Decimal
    terms: TariffTerms
    credit_carried: Decimal
    days: int  # days the bill covered (service days, else the whole month)


@dataclass(frozen=True, slots=True)
class MeterFacts:
    device_id: str
    registered_at: datetime
    invoice: ExistingInvoice | None
    consumption: Consumption | None  # read only for meters without the month's invoice
    decommissioned_at: datetime | None = None
    part_consumption: tuple[Consumption, ...] = ()  # per tariff part, when the month is split
    history: tuple[PastBill, ...] = ()  # earlier invoices, newest first (up to a year)
    recent: RecentUse | None = None  # for an estimate: use over the trailing readings
    actual_of_estimated: tuple[Consumption, ...] = ()  # the estimated months to true up, oldest first
    exchanged_for: str = ""  # the meter that replaced this one during the month (which bills the month)
    sanctioned_load_kw: Decimal | None = None  # what a fixed charge per kW counts


# --- Actions: what the run does for a meter -----------------------------------


@dataclass(frozen=True, slots=True)
class TrueUp:
    """One estimated month corrected to its actual energy."""

    month: date
    estimated_kwh: Decimal
    actual_kwh: Decimal
    amount: Decimal

    @property
    def kwh(self) -> Decimal:
        return self.actual_kwh - self.estimated_kwh


@dataclass(frozen=True, slots=True)
class MonthBill:
    """Everything an invoice records about the month's bill."""

    bill: Bill  # the whole month (every part summed)
    parts: tuple[tuple[TariffPart, Bill], ...]  # one per tariff part; a plain month has one
    consumption: Consumption
    start_register: Decimal | None
    end_register: Decimal | None
    closing_at: datetime | None
    service_days: int | None  # set when the fixed charge is prorated
    estimate: Estimate | None = None
    true_ups: tuple[TrueUp, ...] = ()
    settlement: Settlement | None = None
    held_reasons: tuple[str, ...] = ()

    @property
    def adjustment_kwh(self) -> Decimal:
        return sum((true_up.kwh for true_up in self.true_ups), ZERO)

    @property
    def adjustment_amount(self) -> Decimal:
        return sum((true_up.amount for true_up in self.true_ups), ZERO)


@dataclass(frozen=True, slots=True)
class IssueInvoice:
    """Issue the month's invoice (PDF, row, and the email unless it is held for review)."""

    device_id: str
    consumption: Consumption
    bill: Bill
    month_bill: MonthBill | None = field(default=None, compare=False)

    @property
    def no_readings(self) -> bool:
        return not self.consumption.has_readings

    @property
    def held(self) -> bool:
        return bool(self.month_bill and self.month_bill.held_reasons)

    @property
    def estimated(self) -> bool:
        return bool(self.month_bill and self.month_bill.estimate)


@dataclass(frozen=True, slots=True)
class AlreadyBilled:
    """The invoice exists and was emailed (or waits for review): nothing to do."""

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
class AwaitClosingRead:
    """No reading at or after the month's end yet: a later run bills it (an estimate after the grace period)."""

    device_id: str
    until: datetime  # when the grace period ends


@dataclass(frozen=True, slots=True)
class CannotBill:
    """The tariff cannot bill this consumption: the meter fails, the run goes on."""

    device_id: str
    error: str


MeterAction = IssueInvoice | AlreadyBilled | ResendInvoiceEmail | SkipMeter | AwaitClosingRead | CannotBill


# --- Deciding --------------------------------------------------------------------


def plan_meter(facts: MeterFacts, month: MonthContext) -> MeterAction:
    """What to do for one meter in ``month``."""
    if facts.invoice is not None:
        if facts.invoice.emailed or facts.invoice.held:
            return AlreadyBilled(device_id=facts.device_id)
        return ResendInvoiceEmail(
            device_id=facts.device_id, invoice_pk=facts.invoice.pk, invoice_number=facts.invoice.number
        )
    if facts.exchanged_for:
        return SkipMeter(device_id=facts.device_id, reason=SKIP_EXCHANGED)
    consumption = facts.consumption
    if consumption is None:
        raise ValueError(f"Meter {facts.device_id} has neither an invoice nor a consumption to plan from.")
    if not consumption.has_readings and facts.registered_at >= month.end:
        return SkipMeter(device_id=facts.device_id, reason=SKIP_REGISTERED_AFTER)
    final = facts.decommissioned_at is not None and facts.decommissioned_at < month.end
    try:
        if consumption.closes_at(month.end) or (final and consumption.has_readings):
            month_bill = _actual_bill(facts, month)
        elif month.now < month.end + month.grace:
            return AwaitClosingRead(device_id=facts.device_id, until=month.end + month.grace)
        else:
            month_bill = _estimated_bill(facts, month)
    except ValueError as exc:  # a negative consumption: this meter fails alone
        return CannotBill(device_id=facts.device_id, error=f"{type(exc).__name__}: {exc}")
    return IssueInvoice(device_id=facts.device_id, consumption=consumption, bill=month_bill.bill, month_bill=month_bill)


def plan_meters(facts: Iterable[MeterFacts], month: MonthContext) -> list[MeterAction]:
    """One action per meter, in the order given."""
    return [plan_meter(meter, month) for meter in facts]


def previous_bill(facts: MeterFacts, month: MonthContext) -> PastBill | None:
    """The invoice of the month just before, when the meter has one."""
    if facts.history and facts.history[0].closing_at == month.start:
        return facts.history[0]
    return None


def _in_service(facts: MeterFacts, month: MonthContext) -> tuple[datetime, datetime]:
    """The stretch of the month the meter was in service: from its connection (a reading before the
    month, else its registration or first reading) to its decommissioning, within [start, end)."""
    consumption = facts.consumption
    starts = month.start
    if consumption is None or consumption.opened_at is None or consumption.opened_at > month.start:
        first = consumption.first_reading_at if consumption is not None else None
        connected = min(facts.registered_at, first) if first is not None else facts.registered_at
        starts = max(month.start, connected)
    ends = month.end
    if facts.decommissioned_at is not None:
        ends = max(starts, min(month.end, facts.decommissioned_at))
    return starts, ends


def _service(facts: MeterFacts, month: MonthContext) -> tuple[int, int | None]:
    """Days of the month the meter was in service, and the same when it is less than the month (else None)."""
    days = _days_touched(*_in_service(facts, month), month)
    return days, (days if days < month.days else None)


def _days_touched(start: datetime, end: datetime, month: MonthContext) -> int:
    """Calendar days (billing time zone) from the day of ``start`` to the day before ``end`` ends."""
    if end <= start:
        return 0
    first = start.astimezone(month.zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(month.zone).date()
    return (last - first).days + 1


def _part_bills(
    energies: Sequence[Decimal], month: MonthContext, facts: MeterFacts
) -> tuple[Bill, tuple[tuple[TariffPart, Bill], ...]]:
    """Bill each tariff part: slab limits scaled by its share of the month's days, the fixed and minimum
    charges by its share of the days the meter was in service (both 1 for a plain month in service
    throughout)."""
    starts, ends = _in_service(facts, month)
    parts = [
        BillPart(
            energy_kwh=energy,
            terms=part.terms,
            slab_share=day_share(part.days, month.days),
            fixed_share=day_share(_days_touched(max(starts, part.start), min(ends, part.end), month), month.days),
            sanctioned_load_kw=facts.sanctioned_load_kw,
        )
        for part, energy in zip(month.parts, energies, strict=True)
    ]
    whole, bills = calculate_split_bill(parts)
    return whole, tuple(zip(month.parts, bills, strict=True))


def _actual_bill(facts: MeterFacts, month: MonthContext) -> MonthBill:
    """The month billed from its readings, opening where the previous bill closed."""
    consumption = facts.consumption
    assert consumption is not None
    previous = previous_bill(facts, month)
    energies = [c.energy_kwh for c in facts.part_consumption] if month.split else [consumption.energy_kwh]
    start_register = consumption.start_register
    true_ups: tuple[TrueUp, ...] = ()
    if previous is not None and previous.estimated:
        true_ups = _true_ups(facts)
    elif previous is not None and previous.end_register is not None and start_register is not None:
        # The month opens exactly where the last bill closed: a reading that arrived late,
        # between that bill and this one, moves energy into this month, never out of both.
        energies[0] += start_register - previous.end_register
        start_register = previous.end_register
    if any(energy < 0 for energy in energies):
        raise ValueError(f"Consumption cannot be negative ({', '.join(map(str, energies))} kWh).")
    _, service_days = _service(facts, month)
    whole, parts = _part_bills(energies, month, facts)
    closing_at = month.end if consumption.closes_at(month.end) else consumption.closed_at
    month_bill = MonthBill(
        bill=whole,
        parts=parts,
        consumption=consumption,
        start_register=start_register,
        end_register=consumption.end_register,
        closing_at=closing_at,
        service_days=service_days,
        true_ups=true_ups,
    )
    return _settled(month_bill, facts, month, estimates_in_a_row=0)


def _true_ups(facts: MeterFacts) -> tuple[TrueUp, ...]:
    """The estimated months just before this one, each corrected to what its readings now show."""
    estimated = []
    for past in facts.history:
        if not past.estimated:
            break
        estimated.append(past)
    estimated.reverse()  # oldest first, as actual_of_estimated
    if len(estimated) != len(facts.actual_of_estimated):
        raise ValueError("The readings of the estimated months to correct were not all read.")
    last_actual = facts.history[len(estimated)] if len(facts.history) > len(estimated) else None
    true_ups = []
    for index, (past, actual) in enumerate(zip(estimated, facts.actual_of_estimated, strict=True)):
        actual_kwh = actual.energy_kwh
        if index == 0 and last_actual is not None and last_actual.end_register is not None:
            if actual.start_register is not None and last_actual.closing_at is not None:
                actual_kwh += actual.start_register - last_actual.end_register
        actual_kwh = round_energy(actual_kwh)
        true_ups.append(
            TrueUp(
                month=past.month,
                estimated_kwh=past.energy_kwh,
                actual_kwh=actual_kwh,
                amount=adjustment_amount(actual_kwh=actual_kwh, billed_subtotal=past.subtotal, terms=past.terms),
            )
        )
    return tuple(true_ups)


def _estimated_bill(facts: MeterFacts, month: MonthContext) -> MonthBill:
    """No closing read by the end of the grace period: bill an estimate, corrected by the next actual read."""
    consumption = facts.consumption
    assert consumption is not None
    days, service_days = _service(facts, month)
    last_year = next(
        (
            LastYear(energy_kwh=past.energy_kwh, days=past.days)
            for past in facts.history
            if not past.estimated and past.month == month.month.replace(year=month.month.year - 1)
        ),
        None,
    )
    estimate = estimate_energy(
        days=days,
        recent=facts.recent,
        last_year=last_year,
        default_kwh=month.parts[-1].estimate_default_kwh,
        month_days=month.days,
    )
    previous = previous_bill(facts, month)
    if previous is not None and previous.end_register is not None:
        start_register = previous.end_register
    else:
        start_register = consumption.start_register
    if month.split:
        energies = [round_energy(estimate.energy_kwh * part.days / month.days) for part in month.parts]
        energies[-1] += estimate.energy_kwh - sum(energies, ZERO)
    else:
        energies = [estimate.energy_kwh]
    whole, parts = _part_bills(energies, month, facts)
    in_a_row = 1
    for past in facts.history:
        if not past.estimated:
            break
        in_a_row += 1
    month_bill = MonthBill(
        bill=whole,
        parts=parts,
        consumption=consumption,
        start_register=start_register,
        end_register=None if start_register is None else start_register + estimate.energy_kwh,
        closing_at=month.end,
        service_days=service_days,
        estimate=estimate,
    )
    return _settled(month_bill, facts, month, estimates_in_a_row=in_a_row)


def _settled(month_bill: MonthBill, facts: MeterFacts, month: MonthContext, *, estimates_in_a_row: int) -> MonthBill:
    """Add the adjustment and earlier credit to the bill, then decide whether a person must see it first.

    An estimate is not billed from the month's readings: their anomalies do not hold it.
    """
    credit = facts.history[0].credit_carried if facts.history else ZERO
    settlement = settle(month_bill.bill.total, adjustment=month_bill.adjustment_amount, credit=credit)
    actual = [past.energy_kwh for past in facts.history if not past.estimated][:TRAILING_BILLS]
    readings = month_bill.consumption if month_bill.estimate is None else None
    signs = BillSigns(
        energy_kwh=month_bill.bill.energy_kwh,
        trailing_average_kwh=sum(actual, ZERO) / len(actual) if actual else None,
        resets=readings.resets if readings else 0,
        rollovers=readings.rollovers if readings else 0,
        glitches=readings.glitches if readings else 0,
        implausible=readings.implausible if readings else 0,
        estimates_in_a_row=estimates_in_a_row,
        total=settlement.total,
        ceiling=month.parts[-1].review_ceiling,
    )
    return replace(month_bill, settlement=settlement, held_reasons=tuple(review_reasons(signs, month.thresholds)))
