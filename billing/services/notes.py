"""Credit and debit notes: the only way an issued invoice's amount is corrected (the invoice itself never
changes). Rules: docs/billing.md#credit-and-debit-notes."""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import emails
from billing.models import Account, DocumentSequence, Invoice, LedgerEntry, Note
from billing.pdf import render_note_pdf
from billing.receivables import balance_through
from billing.services.kept_files import file_keep, file_read
from billing.services.ledger import (
    account_for_customer,
    account_lock,
    document_number_take,
    ledger_allocate,
    ledger_post,
)
from billing.services.send_once import send_once
from billing.zone import billing_zone
from ops.audit import audit_log

logger = logging.getLogger(__name__)


class NoteRefused(Exception):
    """A note that cannot be issued; the message says why."""


SERIES = {Note.Kind.CREDIT: DocumentSequence.Series.CREDIT_NOTE, Note.Kind.DEBIT: DocumentSequence.Series.DEBIT_NOTE}
ENTRY_KIND = {Note.Kind.CREDIT: LedgerEntry.Kind.CREDIT_NOTE, Note.Kind.DEBIT: LedgerEntry.Kind.DEBIT_NOTE}


@transaction.atomic
def note_issue(
    *,
    kind: str,
    reason: str,
    amount: Decimal,
    description: str,
    account: Account | None = None,
    invoice: Invoice | None = None,
    detail: dict | None = None,
    actor: User | None = None,
) -> Note:
    """Issue a credit note (lowers the balance) or debit note (raises it) with its own number, posted to the
    ledger and allocated. With ``invoice`` the note refers to it (and a credit note settles it first)."""
    if kind not in SERIES:
        raise NoteRefused(f"Unknown note kind {kind!r}.")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise NoteRefused("A note's amount must be more than zero (issue the other kind for the other direction).")
    if amount != amount.quantize(Decimal("0.01")):
        raise NoteRefused("A note's amount has at most two decimal places.")
    if not description.strip():
        raise NoteRefused("Say why the note is issued; it is printed on the note.")
    if invoice is not None:
        if invoice.status == Invoice.Status.HELD:
            raise NoteRefused(f"Invoice {invoice.number} is held for review: correct it there, not with a note.")
        account = account or invoice.account or account_for_customer(customer=invoice.customer)
    if account is None:
        raise NoteRefused("A note needs an account or an invoice.")
    account = account_lock(account=account)
    now = timezone.now()
    today = now.astimezone(billing_zone()).date()
    note = Note.objects.create(
        number=document_number_take(series=SERIES[kind], on=today),
        kind=kind,
        reason=reason,
        account=account,
        invoice=invoice,
        amount=amount,
        description=description.strip(),
        detail=detail or {},
        issued_at=now,
        issued_by=actor,
    )
    ledger_post(
        account=account,
        kind=ENTRY_KIND[kind],
        amount=-amount if kind == Note.Kind.CREDIT else amount,
        posted_on=today,
        document_number=note.number,
        description=description.strip(),
        invoice=invoice,
        note=note,
    )
    ledger_allocate(account=account)
    # Drawn after the commit (it prints the balance the note left); emailed once.
    transaction.on_commit(partial(note_deliver, note_id=note.pk), robust=True)
    audit_log(
        actor=actor,
        action=f"note.{kind}",
        note=note.number,
        invoice_id=invoice.number if invoice else None,
        amount=str(amount),
        reason=reason,
    )
    return note


def note_pdf_store(*, note: Note) -> bytes:
    """Draw the note and keep it (replacing a file kept before)."""
    pdf = render_note_pdf(note, balance_after=balance_through(entry=note.entries.get()))
    file_keep(instance=note, field="pdf", filename=note.pdf_filename, content=pdf)
    return pdf


def note_pdf_bytes(*, note: Note) -> bytes:
    """The kept note, or, when its file is gone, the note drawn again."""
    return file_read(note.pdf) or note_pdf_store(note=note)


def note_deliver(*, note_id: int) -> bool:
    """Draw the note and email it to the customer, at most once (the note is claimed before sending).
    Runs after the note commits; a failed send releases the claim so it can be sent again."""
    note = Note.objects.select_related("account__customer", "invoice__device").get(pk=note_id)
    pdf = note_pdf_store(note=note)
    customer = note.account.customer
    if not customer.receive_invoice_emails or not customer.email:
        return False
    return send_once(
        row=Note.objects.filter(pk=note_id),
        field="emailed_at",
        send=partial(emails.send_note_issued, note, pdf=pdf),
        task="note_email",
        extra={"note": note.number},
    )
