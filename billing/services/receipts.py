"""Payment receipts: the PDF (drawn once, kept) and the email that carries it, sent at most once."""

from __future__ import annotations

from functools import partial

from billing import emails
from billing.models import LedgerEntry, Payment
from billing.pdf import render_receipt_pdf
from billing.receivables import balance_through, payment_allocations, payment_unapplied
from billing.services.kept_files import file_keep, file_read
from billing.services.send_once import send_once


def _receipt_facts(payment: Payment) -> dict:
    """What the payment settled (kept as it was when reversed), what is left as credit, and the balance
    just after it was recorded."""
    allocations = payment_allocations(payment=payment)
    return {
        "allocations": [a for a in allocations if payment.is_reversed or a.released_at is None],
        "unapplied": payment_unapplied(payment=payment),
        "balance_after": balance_through(entry=payment.entries.get(kind=LedgerEntry.Kind.PAYMENT)),
    }


def receipt_pdf_store(*, payment: Payment) -> bytes:
    """Draw the receipt from the payment and what it settled, and keep it."""
    pdf = render_receipt_pdf(payment, **_receipt_facts(payment))
    file_keep(instance=payment, field="receipt_pdf", filename=payment.receipt_filename, content=pdf)
    return pdf


def receipt_pdf_bytes(*, payment: Payment) -> bytes:
    """The kept receipt, or, when its file is gone, the receipt drawn again."""
    return file_read(payment.receipt_pdf) or receipt_pdf_store(payment=payment)


def receipt_deliver(*, payment_id: int) -> bool:
    """Draw the receipt and email it to the customer, at most once (the payment is claimed before sending).
    Runs after the payment commits; a failed send releases the claim so staff can send it again."""
    payment = Payment.objects.select_related("account__customer").get(pk=payment_id)
    pdf = receipt_pdf_store(payment=payment)
    customer = payment.account.customer
    if not customer.receive_invoice_emails or not customer.email:
        return False
    return send_once(
        row=Payment.objects.filter(pk=payment_id),
        field="receipt_emailed_at",
        send=partial(emails.send_payment_receipt, payment, pdf=pdf),
        task="receipt_email",
        extra={"receipt": payment.number},
    )


RECEIPTS_PER_TASK = 200


def receipts_queue(*, payment_ids: list[int]) -> None:
    """Hand receipts to the task workers in batches (billing.tasks.receipts_deliver)."""
    from django_q.tasks import async_task

    for start in range(0, len(payment_ids), RECEIPTS_PER_TASK):
        batch = payment_ids[start : start + RECEIPTS_PER_TASK]
        async_task("billing.tasks.receipts_deliver", batch, task_name=f"receipts {batch[0]}-{batch[-1]}")
