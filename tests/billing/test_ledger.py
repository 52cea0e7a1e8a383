"""The receivables ledger: invoice numbers, postings, allocation oldest first, credit, reversal, notes,
statements (docs/billing.md#receivables)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Account, Allocation, DocumentSequence, Invoice, LedgerEntry, Note
from billing.numbering import consumer_number, document_number, financial_year, is_consumer_number
from billing.receivables import account_balance, account_statement, invoice_open_amount
from billing.services.notes import NoteRefused, note_issue
from billing.services.payments import PaymentRefused, payment_record, payment_reverse
from billing.services.review import invoice_approve
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db

# 250 kWh under the seed tariff: 100 x 3.50 + 150 x 4.50 = 1025.00, fixed 50, tax 18%: 1268.50.
JANUARY_TOTAL = Decimal("1268.50")


def test_financial_years_run_april_to_march():
    assert financial_year(date(2026, 3, 31)) == 2025
    assert financial_year(date(2026, 4, 1)) == 2026
    assert document_number("INV", 2026, 1234) == "INV-2627-0001234"
    assert document_number("RCT", 2099, 9_999_999) == "RCT-9900-9999999"
    assert len(document_number("CRN", 2026, 1)) == 16
    with pytest.raises(ValueError, match="does not fit"):
        document_number("INV", 2026, 10_000_000)


def test_consumer_numbers_carry_a_check_digit_that_catches_a_typo():
    number = consumer_number(42)
    assert len(number) == 10
    assert number.startswith("100000042")
    assert is_consumer_number(number)
    typo = number[:-2] + str((int(number[-2]) + 1) % 10) + number[-1]
    assert not is_consumer_number(typo)


def test_invoices_take_consecutive_numbers_and_are_posted_to_the_customers_account(invoice_factory, customer):
    january = invoice_factory(month=date(2025, 1, 1))
    february = invoice_factory(month=date(2025, 2, 1))
    year = financial_year(january.issue_day)
    assert january.number == document_number("INV", year, 1)
    assert february.number == document_number("INV", year, 2)
    account = Account.objects.get(customer=customer)
    assert january.consumer_number == account.consumer_number
    assert list(account.entries.values_list("kind", "amount", "document_number")) == [
        ("invoice", JANUARY_TOTAL, january.number),
        ("invoice", JANUARY_TOTAL, february.number),
    ]
    february.refresh_from_db()
    assert (february.previous_balance, february.payments_since, february.amount_due) == (
        JANUARY_TOTAL,
        Decimal("0.00"),
        JANUARY_TOTAL * 2,
    )
    assert account_balance(account=account) == JANUARY_TOTAL * 2


def test_a_held_bill_takes_its_number_only_when_approved(invoice_factory, staff):
    held = invoice_factory(month=date(2025, 1, 1), held=True)
    assert held.number.startswith("HELD-")
    assert not LedgerEntry.objects.filter(invoice=held).exists()
    issued = invoice_factory(month=date(2025, 2, 1))
    approved = invoice_approve(invoice=held, actor=staff)
    year = financial_year(approved.issue_day)
    assert issued.number == document_number("INV", year, 1)
    assert approved.number == document_number("INV", year, 2)
    assert LedgerEntry.objects.get(invoice=approved).amount == approved.total


def test_a_payment_settles_the_oldest_invoice_first_and_a_part_payment_leaves_the_rest_open(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    february = invoice_factory(month=date(2025, 2, 1))
    payment = payment_record(
        account=january.account, amount=Decimal("1500.00"), method="upi", received_on=date(2025, 3, 5)
    )
    january.refresh_from_db()
    february.refresh_from_db()
    assert (january.status, january.paid_date) == (Invoice.Status.PAID, date(2025, 3, 5))
    assert february.status == Invoice.Status.ISSUED
    assert invoice_open_amount(invoice=february) == JANUARY_TOTAL * 2 - Decimal("1500.00")
    assert payment.number == document_number("RCT", 2024, 1)
    assert account_balance(account=january.account) == JANUARY_TOTAL * 2 - Decimal("1500.00")


def test_an_overpayment_is_credit_that_settles_the_next_invoice(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    payment_record(account=january.account, amount=Decimal("2000.00"), method="cash", received_on=date(2025, 2, 3))
    february = invoice_factory(month=date(2025, 2, 1))
    february.refresh_from_db()
    assert february.previous_balance == JANUARY_TOTAL
    assert february.payments_since == Decimal("2000.00")
    assert february.amount_due == JANUARY_TOTAL * 2 - Decimal("2000.00")
    assert invoice_open_amount(invoice=february) == JANUARY_TOTAL * 2 - Decimal("2000.00")


def test_reversing_a_payment_reopens_what_it_paid_and_keeps_the_receipt(invoice_factory, staff):
    january = invoice_factory(month=date(2025, 1, 1))
    payment = payment_record(
        account=january.account,
        amount=JANUARY_TOTAL,
        method="cheque",
        reference="CHQ 004512",
        received_on=date(2025, 2, 3),
    )
    january.refresh_from_db()
    assert january.status == Invoice.Status.PAID
    payment_reverse(payment=payment, reason="Cheque returned unpaid", actor=staff)
    january.refresh_from_db()
    payment.refresh_from_db()
    assert january.status in (Invoice.Status.ISSUED, Invoice.Status.OVERDUE)
    assert january.paid_date is None
    assert payment.is_reversed
    assert payment.reversal_reason == "Cheque returned unpaid"
    assert account_balance(account=january.account) == JANUARY_TOTAL
    assert Allocation.objects.filter(credit__payment=payment, released_at__isnull=True).count() == 0
    with pytest.raises(PaymentRefused, match="already reversed"):
        payment_reverse(payment=payment, reason="again", actor=staff)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("0"), "more than zero"),
        (Decimal("-5"), "more than zero"),
        (Decimal("10.001"), "two decimal places"),
        (Decimal("NaN"), "number of rupees"),
    ],
)
def test_a_payment_with_an_impossible_amount_is_refused_and_nothing_is_written(invoice_factory, amount, message):
    january = invoice_factory(month=date(2025, 1, 1))
    with pytest.raises(PaymentRefused, match=message):
        payment_record(account=january.account, amount=amount, method="cash", received_on=date(2025, 2, 1))
    assert not DocumentSequence.objects.filter(series="RCT").exists()
    assert account_balance(account=january.account) == JANUARY_TOTAL


def test_a_credit_note_corrects_an_invoice_without_changing_it(invoice_factory, staff):
    january = invoice_factory(month=date(2025, 1, 1))
    invoice_factory(month=date(2025, 2, 1))
    note = note_issue(
        kind=Note.Kind.CREDIT,
        reason=Note.Reason.RERATE,
        amount=JANUARY_TOTAL,
        description="January billed again after a corrected read",
        invoice=january,
        actor=staff,
    )
    january.refresh_from_db()
    assert note.number.startswith("CRN-")
    assert note.number.endswith("-0000001")
    assert january.total == JANUARY_TOTAL  # the invoice stays as issued
    assert january.status == Invoice.Status.PAID  # settled by the note, before the older-first rule
    assert account_balance(account=january.account) == JANUARY_TOTAL
    with pytest.raises(NoteRefused, match="more than zero"):
        note_issue(
            kind=Note.Kind.DEBIT, reason=Note.Reason.ADJUSTMENT, amount=Decimal("0"), description="x", invoice=january
        )


def test_a_statement_brings_the_balance_forward_and_runs_it_line_by_line(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    account = january.account
    payment_record(account=account, amount=Decimal("1000.00"), method="upi", received_on=date(2030, 1, 10))
    payment_record(account=account, amount=Decimal("200.00"), method="cash", received_on=date(2030, 2, 10))
    statement = account_statement(account=account, start=date(2030, 2, 1), end=date(2030, 2, 28))
    assert statement.opening_balance == JANUARY_TOTAL - Decimal("1000.00")
    assert [(line.credit, line.balance) for line in statement.lines] == [
        (Decimal("200.00"), JANUARY_TOTAL - Decimal("1200.00"))
    ]
    assert statement.closing_balance == account_balance(account=account)


def test_each_series_restarts_at_one_in_a_new_financial_year(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    first = payment_record(
        account=january.account, amount=Decimal("10.00"), method="cash", received_on=date(2026, 3, 31)
    )
    second = payment_record(
        account=january.account, amount=Decimal("10.00"), method="cash", received_on=date(2026, 4, 1)
    )
    third = payment_record(
        account=january.account, amount=Decimal("10.00"), method="cash", received_on=date(2026, 3, 30)
    )
    assert [first.number, second.number, third.number] == ["RCT-2526-0000001", "RCT-2627-0000001", "RCT-2526-0000002"]


def test_invoice_factory_marks_paid_by_recording_a_payment(invoice_factory):
    paid = InvoiceFactory(device=invoice_factory().device, month=date(2025, 2, 1), status=Invoice.Status.PAID)
    assert paid.status == Invoice.Status.PAID
    assert paid.account.payments.count() == 1
