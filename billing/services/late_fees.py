"""The late-payment surcharge, charged as one debit note when a new invoice is issued, before the invoice
is posted (so the invoice's amount due includes it). Rules: docs/billing.md#late-payment-surcharge."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from billing.collections import account_surcharge_base
from billing.late_fee import surcharge_lines
from billing.models import Invoice, Note
from billing.services.ledger import account_for_customer, account_lock
from billing.services.notes import note_issue
from billing.templatetags.billing_format import format_inr


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def invoice_late_fee_charge(*, invoice: Invoice) -> Note | None:
    """Charge the surcharge on what the invoice's account had overdue on the invoice's issue day, at the rate
    of the invoice's tariff, for the months not charged before; None when there is nothing to charge.

    Call inside the issuing transaction, after the invoice is saved and before invoice_post. The note
    refers to the new invoice (Note.invoice: the invoice it is charged with) and lists the overdue
    documents it covers in its description and ``detail``.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("The surcharge is charged inside the issuing transaction.")
    account = account_lock(account=invoice.account or account_for_customer(customer=invoice.customer))
    rate = invoice.tariff.late_fee_rate
    on = invoice.issue_day
    if rate <= 0:
        return None
    lines = surcharge_lines(
        account_surcharge_base(account=account), rate=rate, on=on, grace_days=settings.LATE_FEE_GRACE_DAYS
    )
    if not lines:
        return None
    amount = sum((line.amount for line in lines), Decimal("0.00"))
    covered = "; ".join(
        f"{line.document} ({format_inr(line.open_amount)} overdue, {line.months} month{'s' if line.months > 1 else ''})"
        for line in lines
    )
    return note_issue(
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.LATE_PAYMENT,
        amount=amount,
        description=f"Late-payment surcharge at {_percent(rate)} a month on {covered}",
        account=account,
        invoice=invoice,
        detail={
            "rate": str(rate),
            "on": on.isoformat(),
            "grace_days": settings.LATE_FEE_GRACE_DAYS,
            "charges": [line.as_detail() for line in lines],
        },
    )
