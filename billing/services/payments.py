"""Payments: record one (allocated to the oldest open charges), reverse one (a bounced cheque reopens what it
paid). Rules: docs/billing.md#payments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.models import Account, DocumentSequence, LedgerEntry, Payment
from billing.selectors import billing_today
from billing.services.ledger import (
    account_lock,
    allocations_release,
    document_number_take,
    ledger_allocate,
    ledger_post,
)
from billing.services.receipts import receipt_deliver
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
    amount = _check_amount(amount)
    if method not in Payment.Method.values:
        raise PaymentRefused(f"Unknown payment method {method!r}; use one of {', '.join(Payment.Method.values)}.")
    account = account_lock(account=account)
    payment = Payment.objects.create(
        number=document_number_take(series=DocumentSequence.Series.RECEIPT, on=received_on),
        account=account,
        amount=amount,
        method=method,
        reference=reference.strip()[:120],
        received_on=received_on,
        recorded_by=actor,
    )
    ledger_post(
        account=account,
        kind=LedgerEntry.Kind.PAYMENT,
        amount=-amount,
        posted_on=received_on,
        document_number=payment.number,
        description=f"Payment by {payment.get_method_display()}" + (f" ({payment.reference})" if reference else ""),
        payment=payment,
    )
    ledger_allocate(account=account)
    transaction.on_commit(partial(receipt_deliver, payment_id=payment.pk), robust=True)
    audit_log(
        actor=actor,
        action="payment.record",
        receipt=payment.number,
        consumer_number=account.consumer_number,
        amount=str(amount),
        method=method,
    )
    return payment


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
