"""The billing run's plan: facts about each meter in, one action per meter out; no database."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.calculation import validate_tariff
from billing.estimates import RecentUse
from billing.review_rules import ReviewThresholds
from billing.services.run_plan import (
    SKIP_REGISTERED_AFTER,
    AlreadyBilled,
    AwaitClosingRead,
    CannotBill,
    ExistingInvoice,
    IssueInvoice,
    MeterFacts,
    MonthContext,
    PastBill,
    ResendInvoiceEmail,
    SkipMeter,
    TariffPart,
    plan_meter,
    plan_meters,
)
from readings.types import Consumption
from tests.factories.billing import SEED_SLABS
from tests.support.readings import IST, consumption, ist

JANUARY = date(2025, 1, 1)
JANUARY_START = ist(2025, 1, 1)
JANUARY_END = ist(2025, 2, 1)
TERMS = validate_tariff(slabs=SEED_SLABS, fixed_charge="50.00", tax_rate="0.18")
DEARER = validate_tariff(
    slabs=[
        {"range_start": 0, "range_end": 100, "rate": "4.00"},
        {"range_start": 101, "range_end": 300, "rate": "5.00"},
        {"range_start": 301, "range_end": None, "rate": "7.00"},
    ],
    fixed_charge="62.00",
    tax_rate="0.18",
)
REGISTERED_IN_DECEMBER = ist(2024, 12, 1)
THRESHOLDS = ReviewThresholds(spike_factor=Decimal(3), spike_min_kwh=Decimal(50), estimates_in_a_row=3)


def tariff_part(start=JANUARY_START, end=JANUARY_END, *, terms=TERMS, tariff_id=1, ceiling=None) -> TariffPart:
    return TariffPart(
        start=start,
        end=end,
        days=(end.date() - start.date()).days,
        tariff_id=tariff_id,
        effective_from=start.date(),
        terms=terms,
        estimate_default_kwh=Decimal("100"),
        review_ceiling=ceiling,
    )


def context(*, now=JANUARY_END + timedelta(minutes=5), parts=None) -> MonthContext:
    return MonthContext(
        month=JANUARY,
        start=JANUARY_START,
        end=JANUARY_END,
        days=31,
        parts=parts or (tariff_part(),),
        now=now,
        grace=timedelta(hours=72),
        thresholds=THRESHOLDS,
        zone=IST,
    )


def facts(
    device_id: str = "meter-001",
    *,
    used_kwh: str | None = "250",
    readings: int = 2976,
    invoice: ExistingInvoice | None = None,
    registered_at: datetime = REGISTERED_IN_DECEMBER,
    closed: bool = True,
    **more,
) -> MeterFacts:
    used = None if used_kwh is None else consumption(device_id, used_kwh, readings=readings, closed=closed)
    return MeterFacts(device_id=device_id, registered_at=registered_at, invoice=invoice, consumption=used, **more)


def past(month: date, energy: str, *, estimated=False, end_register="1000.000", credit="0.00", subtotal=None):
    closing = datetime.combine(date(month.year + month.month // 12, month.month % 12 + 1, 1), datetime.min.time(), IST)
    return PastBill(
        month=month,
        energy_kwh=Decimal(energy),
        estimated=estimated,
        start_register=Decimal(end_register) - Decimal(energy),
        end_register=Decimal(end_register),
        closing_at=closing,
        subtotal=Decimal(subtotal) if subtotal else _subtotal(energy),
        terms=TERMS,
        credit_carried=Decimal(credit),
        days=31,
    )


def _subtotal(energy: str) -> Decimal:
    from billing.calculation import calculate_bill

    return calculate_bill(Decimal(energy), TERMS).subtotal


def plan(meter: MeterFacts, **kwargs):
    return plan_meter(meter, context(**kwargs))


def test_a_meter_with_readings_and_a_closing_read_is_billed_for_what_it_used():
    action = plan(facts(used_kwh="250"))
    assert isinstance(action, IssueInvoice)
    assert (action.device_id, action.bill.energy_kwh, action.bill.total) == (
        "meter-001",
        Decimal("250.000"),
        Decimal("1268.50"),
    )
    assert action.consumption.energy_kwh == Decimal("250.000")
    assert not action.no_readings
    assert not action.held
    assert not action.estimated
    assert action.month_bill.closing_at == JANUARY_END


def test_without_a_reading_at_or_after_the_month_end_the_meter_awaits_its_closing_read():
    assert plan(facts(closed=False)) == AwaitClosingRead(device_id="meter-001", until=JANUARY_END + timedelta(hours=72))
    assert plan(facts(closed=False), now=JANUARY_END + timedelta(hours=71, minutes=59)) == AwaitClosingRead(
        device_id="meter-001", until=JANUARY_END + timedelta(hours=72)
    )


def test_after_the_grace_period_the_month_is_estimated_from_the_trailing_readings():
    recent = RecentUse(energy_kwh=Decimal("240"), span=timedelta(days=30))  # 8 kWh a day
    action = plan(facts(closed=False, recent=recent), now=JANUARY_END + timedelta(hours=72))
    assert isinstance(action, IssueInvoice)
    assert action.estimated
    assert action.month_bill.estimate.basis == "trailing_90_days"
    assert action.bill.energy_kwh == Decimal("248.000")  # 8 × 31 days
    assert action.month_bill.end_register == Decimal("1248.000")  # opening 1000 + the estimate


def test_an_estimate_falls_back_to_the_same_month_last_year_then_to_the_tariff_default():
    last_january = past(date(2024, 1, 1), "310")
    late = JANUARY_END + timedelta(days=4)
    from_last_year = plan(facts(used_kwh="0", readings=0, history=(last_january,)), now=late)
    assert (from_last_year.month_bill.estimate.basis, from_last_year.bill.energy_kwh) == (
        "same_month_last_year",
        Decimal("310.000"),
    )
    from_default = plan(facts(used_kwh="0", readings=0), now=late)
    assert (from_default.month_bill.estimate.basis, from_default.bill.energy_kwh) == (
        "tariff_default",
        Decimal("100.000"),
    )


def test_the_month_opens_exactly_where_the_last_bill_closed():
    # December closed at 1000.000; a late reading since moved the interpolated register at
    # midnight to 1000.400: those 0.4 kWh belong to January, never to nobody.
    december = past(date(2024, 12, 1), "120", end_register="1000.000")
    used = replace(consumption("meter-001", "250", start_register="1000.400"))
    action = plan(MeterFacts("meter-001", REGISTERED_IN_DECEMBER, None, used, history=(december,)))
    assert action.bill.energy_kwh == Decimal("250.400")
    assert action.month_bill.start_register == Decimal("1000.000")


def test_the_next_actual_read_trues_up_an_estimate_at_the_estimated_months_rates():
    december = past(date(2024, 12, 1), "120", estimated=True, end_register="1120.000")
    november = past(date(2024, 11, 1), "90", end_register="1000.000")
    december_actual = consumption("meter-001", "104", month=date(2024, 12, 1), start_register="1000.000")
    january = consumption("meter-001", "150", start_register="1104.000")
    action = plan(
        MeterFacts(
            "meter-001",
            REGISTERED_IN_DECEMBER,
            None,
            january,
            history=(december, november),
            actual_of_estimated=(december_actual,),
        )
    )
    (true_up,) = action.month_bill.true_ups
    assert (true_up.month, true_up.estimated_kwh, true_up.actual_kwh, true_up.kwh) == (
        date(2024, 12, 1),
        Decimal("120"),
        Decimal("104.000"),
        Decimal("-16.000"),
    )
    # December's 104 kWh at December's rates: 350 + 4 × 4.50 = 368.00, against 440.00
    # billed for 120 kWh: -72.00, plus 18% tax = -84.96.
    assert true_up.amount == Decimal("-84.96")
    assert action.bill.total == Decimal("737.50")  # January's own 150 kWh
    assert action.month_bill.settlement.total == Decimal("652.54")


def test_a_negative_adjustment_larger_than_the_bill_is_carried_forward_as_credit():
    december = past(date(2024, 12, 1), "300", estimated=True, end_register="1300.000")
    november = past(date(2024, 11, 1), "90", end_register="1000.000")
    december_actual = consumption("meter-001", "10", month=date(2024, 12, 1), start_register="1000.000")
    january = consumption("meter-001", "5", start_register="1010.000")
    action = plan(
        MeterFacts(
            "meter-001",
            REGISTERED_IN_DECEMBER,
            None,
            january,
            history=(december, november),
            actual_of_estimated=(december_actual,),
        )
    )
    settlement = action.month_bill.settlement
    assert settlement.total == Decimal("0.00")
    assert settlement.credit_carried > 0
    assert settlement.credit_carried == -(action.bill.total + action.month_bill.adjustment_amount)


def test_credit_carried_from_the_last_bill_is_taken_off_this_one():
    december = past(date(2024, 12, 1), "100", credit="100.00")
    action = plan(facts(used_kwh="250", history=(december,)))
    assert action.month_bill.settlement.credit_applied == Decimal("100.00")
    assert action.month_bill.settlement.total == Decimal("1168.50")


@pytest.mark.parametrize(
    ("used", "held"),
    [("250", False), ("300", False), ("301", True)],  # trailing average 100: held above 3× and 50 kWh more
)
def test_a_bill_far_above_the_meters_trailing_average_is_held_for_review(used, held):
    history = tuple(past(date(2024, month, 1), "100") for month in (12, 11, 10))
    action = plan(facts(used_kwh=used, history=history))
    assert action.held is held


def test_a_bill_over_the_tariffs_ceiling_or_with_a_reset_is_held():
    ceiling = plan(facts(used_kwh="250"), parts=(tariff_part(ceiling=Decimal("1000.00")),))
    assert ceiling.held
    assert "review ceiling" in ceiling.month_bill.held_reasons[0]
    reset = plan(MeterFacts("meter-001", REGISTERED_IN_DECEMBER, None, consumption("meter-001", "250", resets=1)))
    assert reset.held
    assert "restarted from zero" in reset.month_bill.held_reasons[0]


def test_the_third_estimate_in_a_row_is_held():
    history = (
        past(date(2024, 12, 1), "100", estimated=True),
        past(date(2024, 11, 1), "100", estimated=True),
    )
    late = JANUARY_END + timedelta(days=4)
    action = plan(facts(closed=False, history=history), now=late)
    assert action.estimated
    assert action.held
    assert "estimate number 3 in a row" in action.month_bill.held_reasons[-1]
    second = plan(facts(closed=False, history=history[:1]), now=late)
    assert second.estimated
    assert not second.held


def test_a_tariff_change_mid_month_splits_the_month_and_scales_slabs_and_fixed_charge():
    change = ist(2025, 1, 15)
    parts = (tariff_part(JANUARY_START, change), tariff_part(change, JANUARY_END, terms=DEARER, tariff_id=2))
    first = consumption("meter-001", "140")
    second = consumption("meter-001", "170", start_register="1140")
    meter = MeterFacts(
        "meter-001",
        REGISTERED_IN_DECEMBER,
        None,
        consumption("meter-001", "310"),
        part_consumption=(first, second),
    )
    action = plan_meter(meter, context(parts=parts))
    (first_part, first_bill), (second_part, second_bill) = action.month_bill.parts
    assert (first_part.days, second_part.days) == (14, 17)
    # 14/31 of the slabs: 0-45.16 @ 3.50, to 135.48 @ 4.50, then 6.00.
    assert [line.units.quantize(Decimal("0.001")) for line in first_bill.lines] == [
        Decimal("45.161"),
        Decimal("90.323"),
        Decimal("4.516"),
    ]
    assert first_bill.fixed_charge == Decimal("22.58")  # 50.00 × 14/31
    assert second_bill.fixed_charge == Decimal("34.00")  # 62.00 × 17/31
    assert action.bill.energy_kwh == Decimal("310.000")
    assert action.bill.total == first_bill.total + second_bill.total


def test_a_meter_connected_mid_month_pays_the_fixed_charge_for_its_days():
    used = replace(
        consumption("meter-001", "120"),
        first_reading_at=ist(2025, 1, 22, 10),
        opened_at=ist(2025, 1, 22, 10),
    )
    action = plan(MeterFacts("meter-001", ist(2025, 1, 22, 9), None, used))
    assert action.month_bill.service_days == 10  # 22nd to 31st
    assert action.bill.fixed_charge == Decimal("16.13")  # 50.00 × 10/31


def test_a_meter_decommissioned_mid_month_is_billed_to_its_last_reading_for_its_days():
    used = replace(consumption("meter-001", "80", closed=False), closed_at=ist(2025, 1, 10, 14))
    assert not used.closes_at(JANUARY_END)
    meter = MeterFacts("meter-001", REGISTERED_IN_DECEMBER, None, used, decommissioned_at=ist(2025, 1, 10, 14))
    action = plan(meter)
    assert isinstance(action, IssueInvoice)
    assert action.month_bill.service_days == 10
    assert action.month_bill.closing_at == ist(2025, 1, 10, 14)
    assert action.bill.fixed_charge == Decimal("16.13")


@pytest.mark.parametrize("registered_at", [JANUARY_END, ist(2025, 3, 10)])
def test_a_meter_registered_after_the_month_with_no_readings_in_it_is_skipped(registered_at):
    assert plan(facts(readings=0, registered_at=registered_at)) == SkipMeter(
        device_id="meter-001", reason=SKIP_REGISTERED_AFTER
    )


def test_a_meter_registered_late_but_with_readings_in_the_month_is_billed():
    action = plan(facts(used_kwh="12", registered_at=ist(2025, 3, 10)))
    assert isinstance(action, IssueInvoice)
    assert action.bill.energy_kwh == Decimal("12.000")


def test_a_meter_whose_invoice_was_emailed_or_is_held_has_nothing_to_do():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=True)
    assert plan(facts(used_kwh=None, invoice=invoice)) == AlreadyBilled(device_id="meter-001")
    held = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=False, held=True)
    assert plan(facts(used_kwh=None, invoice=held)) == AlreadyBilled(device_id="meter-001")


def test_an_invoice_whose_email_never_went_out_is_emailed_again_and_not_billed_again():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=False)
    assert plan(facts(used_kwh=None, invoice=invoice)) == ResendInvoiceEmail(
        device_id="meter-001", invoice_pk=7, invoice_number="INV-202501-000007"
    )


def test_an_existing_invoice_wins_over_any_consumption_read_since():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=True)
    assert plan(facts(used_kwh="999", invoice=invoice)) == AlreadyBilled(device_id="meter-001")


def test_a_consumption_the_tariff_cannot_bill_fails_that_meter_alone():
    negative = Consumption(
        "meter-bad",
        Decimal("-5.000"),
        Decimal("10"),
        Decimal("5"),
        None,
        None,
        2,
        opened_at=JANUARY_START,
        closed_at=JANUARY_END,
        closing_at=JANUARY_END,
        closing_confirmed=True,
    )
    meters = [
        MeterFacts("meter-bad", REGISTERED_IN_DECEMBER, None, negative),
        facts("meter-ok", used_kwh="90"),
    ]
    bad, ok = plan_meters(meters, context())
    assert bad == CannotBill(device_id="meter-bad", error="ValueError: Consumption cannot be negative (-5.000 kWh).")
    assert isinstance(ok, IssueInvoice)
    assert ok.bill.total == Decimal("430.70")


def test_the_plan_has_one_action_per_meter_in_the_order_given():
    emailed = ExistingInvoice(pk=1, number="INV-202501-000001", emailed=True)
    unsent = ExistingInvoice(pk=2, number="INV-202501-000002", emailed=False)
    meters = [
        facts("meter-003", used_kwh="0"),
        facts("meter-001", used_kwh=None, invoice=emailed),
        facts("meter-late", readings=0, registered_at=ist(2025, 2, 3)),
        facts("meter-002", used_kwh=None, invoice=unsent),
        facts("meter-004", closed=False),
    ]
    actions = plan_meters(meters, context())
    assert [(type(action).__name__, action.device_id) for action in actions] == [
        ("IssueInvoice", "meter-003"),
        ("AlreadyBilled", "meter-001"),
        ("SkipMeter", "meter-late"),
        ("ResendInvoiceEmail", "meter-002"),
        ("AwaitClosingRead", "meter-004"),
    ]
    assert plan_meters([], context()) == []


def test_a_meter_with_neither_invoice_nor_consumption_is_a_caller_error():
    with pytest.raises(ValueError, match="neither an invoice nor a consumption"):
        plan(facts(used_kwh=None))
