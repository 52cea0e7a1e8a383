"""Properties of the ledger over any sequence of invoices, payments, reversals and notes: the balance is
the ledger's sum and equals what is open less the credit in hand; no charge or credit is allocated past
its amount; an invoice is paid exactly when nothing of it is open; credit never waits beside an open
charge (docs/billing.md#receivables)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.models import Allocation, DocumentSequence, Invoice, LedgerEntry, Note, Payment
from billing.receivables import account_balance, money
from billing.services.ledger import document_number_take, invoice_post
from billing.services.notes import note_issue
from billing.services.payments import payment_record, payment_reverse

pytestmark = pytest.mark.django_db

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000.00"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("invoice"), amounts),
        st.tuples(st.just("pay"), amounts),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("credit"), amounts, st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("debit"), amounts),
    ),
    min_size=1,
    max_size=14,
)


def _invoice(template: Invoice, index: int, total: Decimal) -> Invoice:
    """A further month's invoice of the template's meter, posted as issuing posts one (no PDF needed here)."""
    month = date(2025, 2, 1) + timedelta(days=31 * index)
    invoice = Invoice.objects.get(pk=template.pk)
    invoice.pk = None
    invoice.month = month.replace(day=1)
    invoice.total = total
    invoice.status = Invoice.Status.ISSUED
    invoice.paid_date = None
    invoice.pdf = ""
    invoice.number = document_number_take(series=DocumentSequence.Series.INVOICE, on=invoice.issue_day)
    invoice.save(force_insert=True)
    invoice_post(invoice=invoice)
    return invoice


def _check(account) -> None:
    entries = list(account.entries.all())
    ledger_sum = sum((entry.amount for entry in entries), Decimal("0.00"))
    assert account_balance(account=account) == ledger_sum
    live = Allocation.objects.filter(credit__account=account, released_at__isnull=True)
    open_total = Decimal("0.00")
    for charge in (entry for entry in entries if entry.is_charge):
        settled = money(live.filter(charge=charge).aggregate(total=Sum("amount"))["total"])
        assert Decimal("0.00") <= settled <= charge.amount, charge
        open_total += charge.amount - settled
        if charge.kind == LedgerEntry.Kind.INVOICE:
            status = Invoice.objects.values_list("status", flat=True).get(pk=charge.invoice_id)
            assert (status == Invoice.Status.PAID) == (settled == charge.amount), (charge, status, settled)
    credit_in_hand = Decimal("0.00")
    for credit in (entry for entry in entries if entry.is_credit):
        used = money(live.filter(credit=credit).aggregate(total=Sum("amount"))["total"])
        assert Decimal("0.00") <= used <= -credit.amount, credit
        if credit.payment_id and credit.payment.is_reversed:
            assert used == Decimal("0.00"), credit
            continue
        credit_in_hand += -credit.amount - used
    assert ledger_sum == open_total - credit_in_hand
    assert open_total == Decimal("0.00") or credit_in_hand == Decimal("0.00")


def test_any_sequence_keeps_the_ledger_consistent(invoice_factory, staff):
    template = invoice_factory(month=date(2025, 1, 1))
    account = template.account

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(operations)
    def check(steps):
        note(repr(steps))
        with transaction.atomic():
            invoices, payments = [], []
            for step in steps:
                kind = step[0]
                if kind == "invoice":
                    invoices.append(_invoice(template, len(invoices), step[1]))
                elif kind == "pay":
                    day = date(2026, 1, 1) + timedelta(days=len(payments))
                    payments.append(
                        payment_record(account=account, amount=step[1], method="upi", received_on=day, actor=staff)
                    )
                elif kind == "reverse" and payments:
                    payment = Payment.objects.get(pk=payments[step[1] % len(payments)].pk)
                    if not payment.is_reversed:
                        payment_reverse(payment=payment, reason="bounced", actor=staff)
                elif kind == "credit":
                    target = invoices[step[2] % len(invoices)] if invoices else None
                    note_issue(
                        kind=Note.Kind.CREDIT,
                        reason=Note.Reason.ADJUSTMENT,
                        amount=step[1],
                        description="goodwill",
                        account=account,
                        invoice=target,
                        actor=staff,
                    )
                elif kind == "debit":
                    note_issue(
                        kind=Note.Kind.DEBIT,
                        reason=Note.Reason.ADJUSTMENT,
                        amount=step[1],
                        description="meter test fee",
                        account=account,
                        actor=staff,
                    )
                _check(account)
            transaction.set_rollback(True)

    check()
