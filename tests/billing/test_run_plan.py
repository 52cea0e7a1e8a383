"""The billing run's plan: facts about each meter in, one action per meter out; no database."""

from datetime import datetime
from decimal import Decimal

import pytest

from billing.calculation import validate_tariff
from billing.services.run_plan import (
    SKIP_REGISTERED_AFTER,
    AlreadyBilled,
    CannotBill,
    ExistingInvoice,
    IssueInvoice,
    MeterFacts,
    ResendInvoiceEmail,
    SkipMeter,
    plan_meter,
    plan_meters,
)
from readings.types import Consumption
from tests.factories.billing import SEED_SLABS
from tests.support.readings import consumption, ist

JANUARY_END = ist(2025, 2, 1)
TERMS = validate_tariff(slabs=SEED_SLABS, fixed_charge="50.00", tax_rate="0.18")
REGISTERED_IN_DECEMBER = ist(2024, 12, 1)


def facts(
    device_id: str = "meter-001",
    *,
    used_kwh: str | None = "250",
    readings: int = 2976,
    invoice: ExistingInvoice | None = None,
    registered_at: datetime = REGISTERED_IN_DECEMBER,
) -> MeterFacts:
    used = None if used_kwh is None else consumption(device_id, used_kwh, readings=readings)
    return MeterFacts(device_id=device_id, registered_at=registered_at, invoice=invoice, consumption=used)


def plan(meter: MeterFacts):
    return plan_meter(meter, month_end=JANUARY_END, terms=TERMS)


def test_a_meter_with_readings_and_no_invoice_is_billed_for_what_it_used():
    action = plan(facts(used_kwh="250"))
    assert isinstance(action, IssueInvoice)
    assert (action.device_id, action.bill.energy_kwh, action.bill.total) == (
        "meter-001",
        Decimal("250.000"),
        Decimal("1268.50"),
    )
    assert action.consumption.energy_kwh == Decimal("250.000")
    assert not action.no_readings


def test_a_meter_silent_all_month_but_registered_before_it_ends_gets_a_no_readings_bill():
    action = plan(facts(readings=0, registered_at=ist(2025, 1, 31, 23, 59)))
    assert isinstance(action, IssueInvoice)
    assert action.no_readings
    assert (action.bill.energy_kwh, action.bill.total) == (Decimal("0.000"), Decimal("59.00"))


@pytest.mark.parametrize("registered_at", [JANUARY_END, ist(2025, 3, 10)])
def test_a_meter_registered_after_the_month_with_no_readings_in_it_is_skipped(registered_at):
    assert plan(facts(readings=0, registered_at=registered_at)) == SkipMeter(
        device_id="meter-001", reason=SKIP_REGISTERED_AFTER
    )


def test_a_meter_registered_late_but_with_readings_in_the_month_is_billed():
    action = plan(facts(used_kwh="12", registered_at=ist(2025, 3, 10)))
    assert isinstance(action, IssueInvoice)
    assert action.bill.energy_kwh == Decimal("12.000")


def test_a_meter_whose_invoice_was_emailed_has_nothing_to_do():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=True)
    assert plan(facts(used_kwh=None, invoice=invoice)) == AlreadyBilled(device_id="meter-001")


def test_an_invoice_whose_email_never_went_out_is_emailed_again_and_not_billed_again():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=False)
    assert plan(facts(used_kwh=None, invoice=invoice)) == ResendInvoiceEmail(
        device_id="meter-001", invoice_pk=7, invoice_number="INV-202501-000007"
    )


def test_an_existing_invoice_wins_over_any_consumption_read_since():
    invoice = ExistingInvoice(pk=7, number="INV-202501-000007", emailed=True)
    assert plan(facts(used_kwh="999", invoice=invoice)) == AlreadyBilled(device_id="meter-001")


def test_a_consumption_the_tariff_cannot_bill_fails_that_meter_alone():
    negative = Consumption("meter-bad", Decimal("-5.000"), Decimal("10"), Decimal("5"), None, None, 2, 0)
    meters = [
        MeterFacts("meter-bad", REGISTERED_IN_DECEMBER, None, negative),
        facts("meter-ok", used_kwh="90"),
    ]
    bad, ok = plan_meters(meters, month_end=JANUARY_END, terms=TERMS)
    assert bad == CannotBill(device_id="meter-bad", error="ValueError: Consumption cannot be negative.")
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
    ]
    actions = plan_meters(meters, month_end=JANUARY_END, terms=TERMS)
    assert [(type(action).__name__, action.device_id) for action in actions] == [
        ("IssueInvoice", "meter-003"),
        ("AlreadyBilled", "meter-001"),
        ("SkipMeter", "meter-late"),
        ("ResendInvoiceEmail", "meter-002"),
    ]
    assert plan_meters([], month_end=JANUARY_END, terms=TERMS) == []


def test_a_meter_with_neither_invoice_nor_consumption_is_a_caller_error():
    with pytest.raises(ValueError, match="neither an invoice nor a consumption"):
        plan(facts(used_kwh=None))
