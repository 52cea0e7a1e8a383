"""The late-payment surcharge: the pure arithmetic (hand-checked amounts, months never charged twice), and
the debit note charged when a new invoice is issued."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.late_fee import (
    OverdueCharge,
    add_months,
    coverage_from_details,
    months_started,
    surcharge_lines,
)
from billing.models import Invoice, LedgerEntry, Note
from billing.selectors import billing_today
from billing.services import invoice_approve
from billing.services.notes import note_issue
from tests.factories import InvoiceFactory

D = Decimal
RATE = D("0.0150")


# --- The arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "on", "months"),
    [
        (date(2025, 1, 15), date(2025, 1, 15), 0),  # due today: not late
        (date(2025, 1, 15), date(2025, 1, 16), 1),  # a day late: a month begun
        (date(2025, 1, 15), date(2025, 2, 15), 1),  # exactly a month
        (date(2025, 1, 15), date(2025, 2, 16), 2),
        (date(2025, 1, 15), date(2025, 3, 1), 2),  # 45 days
        (date(2025, 1, 31), date(2025, 2, 28), 1),  # 31 Jan + 1 month = 28 Feb
        (date(2025, 1, 31), date(2025, 3, 1), 2),
        (date(2024, 12, 20), date(2025, 3, 20), 3),  # across a year
    ],
)
def test_months_overdue_count_each_month_or_part_since_the_due_date(due, on, months):
    assert months_started(due, on) == months


def test_add_months_keeps_the_day_or_the_months_last_day():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


def test_1268_50_open_45_days_past_due_at_1_5_percent_is_two_months_38_06():
    due = date(2025, 2, 15)
    [line] = surcharge_lines([OverdueCharge("INV-2425-0000001", D("1268.50"), due)], rate=RATE, on=due + timedelta(45))
    assert (line.months, line.amount) == (2, D("38.06"))  # 1268.50 x 0.015 x 2 = 38.055, half up
    assert (line.start, line.until) == (due, date(2025, 4, 15))


def test_a_later_surcharge_charges_only_the_months_after_the_last_one():
    due = date(2025, 2, 15)
    charge = OverdueCharge("INV-1", D("1268.50"), due, covered_until=date(2025, 4, 15))
    assert surcharge_lines([charge], rate=RATE, on=date(2025, 4, 10)) == []  # still inside covered months
    [line] = surcharge_lines([charge], rate=RATE, on=date(2025, 4, 16))
    assert (line.months, line.amount, line.start, line.until) == (1, D("19.03"), date(2025, 4, 15), date(2025, 5, 15))


def test_the_grace_period_delays_the_surcharge_but_months_count_from_the_due_date():
    due = date(2025, 2, 15)
    charge = OverdueCharge("INV-1", D("1000.00"), due)
    assert surcharge_lines([charge], rate=RATE, on=due + timedelta(7), grace_days=7) == []
    [line] = surcharge_lines([charge], rate=RATE, on=due + timedelta(8), grace_days=7)
    assert (line.months, line.amount) == (1, D("15.00"))


def test_nothing_is_charged_on_charges_not_yet_due_or_tiny_amounts():
    on = date(2025, 3, 1)
    charges = [
        OverdueCharge("INV-current", D("500.00"), on),
        OverdueCharge("INV-tiny", D("0.10"), date(2025, 2, 20)),  # 0.0015 rounds to nothing
    ]
    assert surcharge_lines(charges, rate=RATE, on=on) == []


def test_coverage_is_read_back_from_the_notes_detail():
    due = date(2025, 2, 15)
    first = surcharge_lines([OverdueCharge("INV-1", D("100.00"), due)], rate=RATE, on=date(2025, 3, 1))
    second = surcharge_lines(
        [OverdueCharge("INV-1", D("100.00"), due, covered_until=first[0].until)], rate=RATE, on=date(2025, 5, 1)
    )
    details = [{"charges": [line.as_detail() for line in lines]} for lines in (first, second)]
    assert coverage_from_details(details) == {"INV-1": date(2025, 5, 15)}
    assert coverage_from_details([{}, {"charges": []}]) == {}


@given(
    due_offset=st.integers(min_value=0, max_value=400),
    gaps=st.lists(st.integers(min_value=0, max_value=75), min_size=1, max_size=12),
    grace=st.integers(min_value=0, max_value=20),
    open_paise=st.integers(min_value=1, max_value=10_000_000),
)
def test_no_charge_month_is_surcharged_twice_over_a_sequence_of_invoices(due_offset, gaps, grace, open_paise):
    due = date(2024, 1, 1) + timedelta(due_offset)
    open_amount = D(open_paise) / 100
    day, covered, details, charged = due - timedelta(10), None, [], []
    for gap in gaps:
        day += timedelta(gap)
        charge = OverdueCharge("INV-1", open_amount, due, covered_until=coverage_from_details(details).get("INV-1"))
        lines = surcharge_lines([charge], rate=RATE, on=day, grace_days=grace)
        details.append({"charges": [line.as_detail() for line in lines]})
        for line in lines:
            first_month = months_started(due, line.start) if line.start > due else 0
            charged.extend(range(first_month + 1, first_month + line.months + 1))
            assert line.start == (covered or due)
            covered = line.until
    assert len(charged) == len(set(charged))  # no month twice
    assert charged == list(range(1, len(charged) + 1))  # none skipped either
    if (day - due).days > grace and open_amount * RATE >= D("0.005"):
        assert len(charged) == months_started(due, day)


# --- The debit note on a new invoice -----------------------------------------------


def _overdue(invoice, days):
    Invoice.objects.filter(pk=invoice.pk).update(due_date=billing_today() - timedelta(days))


@pytest.mark.django_db
def test_a_new_invoice_first_charges_the_surcharge_on_what_is_overdue(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    _overdue(january, 45)
    february = invoice_factory(month=date(2025, 2, 1))
    note = Note.objects.get(reason=Note.Reason.LATE_PAYMENT)
    assert (note.kind, note.amount, note.invoice_id) == (Note.Kind.DEBIT, D("38.06"), february.pk)
    assert january.number in note.description
    assert "1.5% a month" in note.description
    [line] = note.detail["charges"]
    assert line["document"] == january.number
    assert (line["open_amount"], line["months"], line["amount"]) == ("1268.50", 2, "38.06")
    february.refresh_from_db()
    assert february.amount_due == D("1268.50") + D("38.06") + D("1268.50")
    entries = list(LedgerEntry.objects.order_by("pk").values_list("kind", "document_number"))
    assert entries == [("invoice", january.number), ("debit_note", note.number), ("invoice", february.number)]


@pytest.mark.django_db
def test_a_second_invoice_the_same_day_charges_no_month_again(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    _overdue(january, 45)
    invoice_factory(month=date(2025, 2, 1))
    invoice_factory(month=date(2025, 3, 1))
    assert Note.objects.filter(reason=Note.Reason.LATE_PAYMENT).count() == 1


@pytest.mark.django_db
def test_months_already_surcharged_are_not_charged_again(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    due = billing_today() - timedelta(45)
    _overdue(january, 45)
    note_issue(  # an earlier surcharge covered the first month
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.LATE_PAYMENT,
        amount=D("19.03"),
        description="Late-payment surcharge",
        account=january.account,
        detail={"charges": [{"document": january.number, "until": add_months(due, 1).isoformat()}]},
    )
    invoice_factory(month=date(2025, 2, 1))
    latest = Note.objects.filter(reason=Note.Reason.LATE_PAYMENT).order_by("-pk").first()
    assert latest.amount == D("19.03")  # the second month only
    assert latest.detail["charges"][0]["from"] == add_months(due, 1).isoformat()


@pytest.mark.django_db
def test_surcharges_attract_no_surcharge_but_other_debit_notes_do(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1), status=Invoice.Status.PAID, paid_date=date(2025, 2, 1))
    old_fee = note_issue(
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.LATE_PAYMENT,
        amount=D("50.00"),
        description="Surcharge",
        account=january.account,
    )
    adjustment = note_issue(
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.ADJUSTMENT,
        amount=D("1000.00"),
        description="Meter tampering",
        account=january.account,
    )
    LedgerEntry.objects.filter(note__in=[old_fee, adjustment]).update(posted_on=billing_today() - timedelta(40))
    invoice_factory(month=date(2025, 2, 1))
    note = Note.objects.filter(reason=Note.Reason.LATE_PAYMENT).order_by("-pk").first()
    assert [line["document"] for line in note.detail["charges"]] == [adjustment.number]
    assert note.amount == D("15.00")  # 25 days past due (posted 40 days ago, due after 15): one month


@pytest.mark.django_db
def test_nothing_overdue_or_inside_the_grace_period_gives_no_note(invoice_factory, settings):
    paid = invoice_factory(month=date(2025, 1, 1), status=Invoice.Status.PAID, paid_date=date(2025, 2, 1))
    _overdue(paid, 45)
    invoice_factory(month=date(2025, 2, 1))
    assert not Note.objects.exists()
    settings.LATE_FEE_GRACE_DAYS = 50
    march = invoice_factory(month=date(2025, 3, 1))
    _overdue(march, 45)
    invoice_factory(month=date(2025, 4, 1))
    assert not Note.objects.exists()


@pytest.mark.django_db
def test_the_rate_is_the_new_invoices_tariffs(invoice_factory, seed_tariff):
    january = invoice_factory(month=date(2025, 1, 1))
    _overdue(january, 10)
    type(seed_tariff).objects.filter(pk=seed_tariff.pk).update(late_fee_rate=D("0.0200"))
    invoice_factory(month=date(2025, 2, 1))
    assert Note.objects.get().amount == D("25.37")  # 1268.50 x 0.02 = 25.37


@pytest.mark.django_db
def test_approving_a_held_bill_charges_the_surcharge_first(invoice_factory, staff):
    january = invoice_factory(month=date(2025, 1, 1))
    held = InvoiceFactory(device=january.device, month=date(2025, 2, 1), held=True)
    _overdue(january, 45)  # by the day the bill is approved
    approved = invoice_approve(invoice=held, actor=staff)
    note = Note.objects.get()
    assert (note.amount, note.invoice_id) == (D("38.06"), approved.pk)
    approved.refresh_from_db()
    assert approved.amount_due == D("2575.06")
