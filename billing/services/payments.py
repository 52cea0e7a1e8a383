"""Payments: record one (allocated to the oldest open charges), reverse one (a bounced cheque reopens what it
paid). Rules: docs/billing.md#payments."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.models import Account, DocumentSequence, LedgerEntry, Payment
from billing.numbering import financial_year
from billing.selectors import billing_today
from billing.services.ledger import (
    account_lock,
    accounts_lock,
    allocations_release,
    document_numbers_take,
    ledger_allocate,
    ledger_allocate_accounts,
    ledger_post,
    ledger_post_many,
)
from billing.services.receipts import receipt_deliver, receipts_queue
from ops.audit import audit_log

MAX_PAYMENT = Decimal("9999999999.99")


class PaymentRefused(Exception):
    """A payment that cannot be recorded or reversed; the message says why."""


def _check_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise PaymentRefused("The amount must be a number of rupees.")
    if amount <= 0:
        raise PaymentRefused("The amount must be more than zero.")
    if amount > MAX_PAYMENT or amount != amount.quantize(Decimal("0.01")):
        raise PaymentRefused("The amount must have at most two decimal places and fit 10 digits of rupees.")
    return amount.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class PaymentReceived:
    """Money received, to be recorded: what payment_record takes, for payments_record."""

    account: Account
    amount: Decimal
    method: str
    received_on: date
    reference: str = ""


@transaction.atomic
def payment_record(
    *,
    account: Account,
    amount: Decimal,
    method: str,
    received_on: date,
    reference: str = "",
    actor: User | None = None,
) -> Payment:
    """Record money received: a receipt number from the RCT series, a ledger entry, and allocation to the
    account's oldest open invoices and debit notes (what is left over stays as credit for the next bill)."""
    received = PaymentReceived(
        account=account, amount=amount, method=method, received_on=received_on, reference=reference
    )
    return payments_record(received=[received], actor=actor)[0]


@transaction.atomic
def payments_record(*, received: Sequence[PaymentReceived], actor: User | None = None) -> list[Payment]:
    """Record many payments in one transaction and a few queries, leaving the same ledger as payment_record
    called for each in turn: receipt numbers contiguous in this order, each payment allocated oldest
    charge first as if it were recorded alone. One refused payment refuses them all."""
    for item in received:
        _check_amount(item.amount)
        if item.method not in Payment.Method.values:
            raise PaymentRefused(
                f"Unknown payment method {item.method!r}; use one of {', '.join(Payment.Method.values)}."
            )
    if not received:
        return []
    accounts = accounts_lock(account_ids=[item.account.pk for item in received])
    numbers = _receipt_numbers([item.received_on for item in received])
    payments = Payment.objects.bulk_create(
        Payment(
            number=number,
            account=accounts[item.account.pk],
            amount=_check_amount(item.amount),
            method=item.method,
            reference=item.reference.strip()[:120],
            received_on=item.received_on,
            recorded_by=actor,
        )
        for item, number in zip(received, numbers, strict=True)
    )
    entries = ledger_post_many(
        entries=[
            LedgerEntry(
                account=payment.account,
                kind=LedgerEntry.Kind.PAYMENT,
                amount=-payment.amount,
                posted_on=payment.received_on,
                document_number=payment.number,
                description=f"Payment by {payment.get_method_display()}"
                + (f" ({payment.reference})" if payment.reference else ""),
                payment=payment,
            )
            for payment in payments
        ]
    )
    ledger_allocate_accounts(account_ids=accounts, arrivals=entries)
    ids = [payment.pk for payment in payments]
    if len(ids) == 1:  # one recorded at the counter or by API: its receipt goes out with the response
        transaction.on_commit(partial(receipt_deliver, payment_id=ids[0]), robust=True)
    else:  # a bank statement's worth: the task workers draw and send the receipts
        transaction.on_commit(partial(receipts_queue, payment_ids=ids), robust=True)
    for payment in payments:
        audit_log(
            actor=actor,
            action="payment.record",
            receipt=payment.number,
            consumer_number=payment.account.consumer_number,
            amount=str(payment.amount),
            method=payment.method,
        )
    return payments


def _receipt_numbers(days: list[date]) -> list[str]:
    """Receipt numbers for payments received on ``days``, in that order within each financial year."""
    per_year = Counter(financial_year(day) for day in days)
    taken = {
        year: iter(document_numbers_take(series=DocumentSequence.Series.RECEIPT, on=date(year, 4, 1), count=count))
        for year, count in sorted(per_year.items())
    }
    return [next(taken[financial_year(day)]) for day in days]


@transaction.atomic
def payment_reverse(*, payment: Payment, reason: str, actor: User | None = None, on: date | None = None) -> Payment:
    """Reverse a payment (a bounced cheque, a charge-back): what it settled is open again and the ledger gets
    a reversal entry for its amount. The payment and its receipt stay as they were, marked reversed."""
    reason = reason.strip()
    if not reason:
        raise PaymentRefused("Say why the payment is reversed.")
    account = account_lock(account=payment.account)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.is_reversed:
        raise PaymentRefused(f"Payment {payment.number} was already reversed on {payment.reversed_at:%Y-%m-%d}.")
    payment.reversed_at = timezone.now()
    payment.reversed_by = actor
    payment.reversal_reason = reason[:200]
    payment.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
    credit = payment.entries.get(kind=LedgerEntry.Kind.PAYMENT)
    allocations_release(credit=credit)
    ledger_post(
        account=account,
        kind=LedgerEntry.Kind.REVERSAL,
        amount=payment.amount,
        posted_on=on or max(payment.received_on, billing_today()),
        document_number=payment.number,
        description=f"Payment {payment.number} reversed: {reason}",
        payment=payment,
    )
    ledger_allocate(account=account)
    audit_log(actor=actor, action="payment.reverse", receipt=payment.number, reason=reason, amount=str(payment.amount))
    return payment
