"""Payments on the ledger: allocation oldest bill first, a credit note settling its own invoice first, and a
reversal reopening what a payment settled (billing.services.payments, billing.services.ledger)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Allocation, Invoice, Note
from billing.receivables import account_balance, invoice_open_amount
from billing.selectors import billing_today
from billing.services.notes import note_issue
from billing.services.payments import PaymentReceived, PaymentRefused, payment_reverse, payments_record
from tests.factories import PaymentFactory


@pytest.fixture
def bills(invoice_factory):
    """January and February 2025 for meter-001, 1,268.50 each, due 15 days after issue (today)."""
    return invoice_factory(month=date(2025, 1, 1)), invoice_factory(month=date(2025, 2, 1))


def test_a_reversed_payment_reopens_the_bills_it_paid(bills):
    january, february = bills
    payment = PaymentFactory(account=january.account, amount=Decimal("1500.00"))
    january.refresh_from_db()
    assert january.status == Invoice.Status.PAID

    payment_reverse(payment=payment, reason="Cheque bounced")

    january.refresh_from_db()
    assert (january.status, january.paid_date) == (Invoice.Status.ISSUED, None)
    assert invoice_open_amount(invoice=january) == january.total
    assert invoice_open_amount(invoice=february) == february.total
    assert not Allocation.objects.filter(released_at__isnull=True).exists()
    assert account_balance(account=january.account) == january.total + february.total


def test_a_credit_note_settles_its_own_invoice_before_older_ones(bills):
    january, february = bills

    note_issue(
        kind=Note.Kind.CREDIT,
        reason=Note.Reason.ADJUSTMENT,
        amount=february.total,
        description="Meter read twice",
        invoice=february,
    )

    february.refresh_from_db()
    assert (february.status, february.paid_date) == (Invoice.Status.PAID, billing_today())
    assert invoice_open_amount(invoice=january) == january.total


def test_a_payment_received_later_pays_the_bill_on_its_own_day(bills):
    january, _ = bills

    PaymentFactory(account=january.account, amount=Decimal("1000.00"), received_on=date(2025, 2, 10))
    PaymentFactory(account=january.account, amount=Decimal("300.00"), received_on=date(2025, 2, 20))

    january.refresh_from_db()
    assert (january.status, january.paid_date) == (Invoice.Status.PAID, date(2025, 2, 20))


def test_one_refused_payment_in_a_batch_records_none(bills):
    january, _ = bills
    good = PaymentReceived(account=january.account, amount=Decimal("5.00"), method="cash", received_on=date(2025, 2, 1))
    bad = PaymentReceived(account=january.account, amount=Decimal("0.00"), method="cash", received_on=date(2025, 2, 1))

    with pytest.raises(PaymentRefused, match="more than zero"):
        payments_record(received=[good, bad])
    assert not january.account.payments.exists()
