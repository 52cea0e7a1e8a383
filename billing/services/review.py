"""What staff do with a bill held for review: approve it (it is issued and emailed), or correct its
closing read first (it is priced again and stays held). See docs/operations.md#reviewing-held-bills."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.calculation import ENERGY
from billing.models import DocumentSequence, Invoice
from billing.months import month_label
from billing.selectors import billing_today
from billing.services.invoice_totals import TOTALS_FIELDS, invoice_totals_recompute
from billing.services.invoices import invoice_email_issued, invoice_pdf_store
from billing.services.late_fees import invoice_late_fee_charge
from billing.services.ledger import document_number_take, invoice_post
from ops.audit import audit_log
from ops.metrics import INVOICES_ISSUED


class InvoiceReviewRefused(Exception):
    """A review action that cannot be done; the message says why, for staff."""


class InvoiceNotHeld(InvoiceReviewRefused):
    pass


def _locked_held(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().select_related("device", "tariff").get(pk=invoice.pk)
    if locked.status != Invoice.Status.HELD:
        raise InvoiceNotHeld(
            f"Invoice {locked.number} is not held for review (it is {locked.get_status_display().lower()})."
        )
    return locked


def invoice_approve(*, invoice: Invoice, actor: User | None) -> Invoice:
    """Issue a held bill: due INVOICE_DUE_DAYS after today (billing time zone), its PDF rendered again,
    the customer emailed once the write commits. Refuses a bill that is not held (InvoiceNotHeld)."""
    with transaction.atomic():
        invoice = _locked_held(invoice)
        now = timezone.now()
        invoice.status = Invoice.Status.ISSUED
        invoice.created_at = now  # the issue time: the PDF's "Issued" date, with the due date counted from it
        invoice.due_date = billing_today() + timedelta(days=settings.INVOICE_DUE_DAYS)
        invoice.reviewed_at = now
        invoice.reviewed_by = actor
        invoice.number = document_number_take(series=DocumentSequence.Series.INVOICE, on=invoice.issue_day)
        invoice.save(update_fields=["number", "status", "created_at", "due_date", "reviewed_at", "reviewed_by"])
        invoice_late_fee_charge(invoice=invoice)  # first, so the invoice's amount due includes it
        invoice_post(invoice=invoice)
        transaction.on_commit(INVOICES_ISSUED.inc)
    pdf = invoice_pdf_store(invoice=invoice)  # the held one showed the held status and a provisional due date
    transaction.on_commit(partial(invoice_email_issued, invoice_id=invoice.pk, pdf=pdf), robust=True)
    audit_log(
        actor=actor,
        action="invoice.approve",
        invoice_id=invoice.number,
        device_id=invoice.device.device_id,
        month=month_label(invoice.month),
        energy_kwh=str(invoice.energy_kwh),
        total=str(invoice.total),
        held_reasons=list(invoice.held_reasons),
        due_date=invoice.due_date.isoformat(),
    )
    return invoice


def _register(value: object) -> Decimal:
    try:
        register = Decimal(str(value)).quantize(ENERGY)
    except (InvalidOperation, ValueError):
        raise InvoiceReviewRefused(f"The closing register must be a number of kWh, not {value!r}.") from None
    if not register.is_finite() or register < 0:
        raise InvoiceReviewRefused(f"The closing register must be 0 kWh or more, not {value}.")
    return register


def closing_energy(*, invoice: Invoice, closing_register: object) -> tuple[Decimal, Decimal]:
    """The closing register as entered and the month's energy if the bill had closed there: the energy moves
    by the change of the closing (a reset or a left-out glitch within the month still counts as before).
    Raises InvoiceReviewRefused when the energy cannot be worked out or would be negative."""
    register = _register(closing_register)
    if invoice.end_register is not None:
        # The closing moves; whatever the month's readings held before it (a reset counted, a
        # glitch left out) still counts as it did. Its opening, in the closing's terms:
        opening = invoice.end_register - invoice.energy_kwh
    elif invoice.start_register is not None:
        opening = invoice.start_register
    else:
        raise InvoiceReviewRefused(
            f"Invoice {invoice.number} has no opening register, so the energy cannot be worked out from a closing read."
        )
    energy = register - opening
    if energy < 0:
        raise InvoiceReviewRefused(
            f"A closing register of {register} kWh is below the opening register of {opening} kWh: "
            f"the month's energy would be {energy} kWh."
        )
    return register, energy


def invoice_correct_closing(*, invoice: Invoice, closing_register: Decimal, reason: str, actor: User | None) -> Invoice:
    """Replace a held bill's closing register (e.g. with a read taken on site): the energy moves by the
    change of the closing (a reset or a left-out glitch within the month still counts as before) and the
    bill is priced again, splits and credit included. The bill stays held until approved."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceReviewRefused("Say why the closing read is corrected: the reason is recorded.")
    with transaction.atomic():
        invoice = _locked_held(invoice)
        register, energy = closing_energy(invoice=invoice, closing_register=closing_register)
        old = {"end_register": invoice.end_register, "energy_kwh": invoice.energy_kwh, "total": invoice.total}
        try:
            invoice_totals_recompute(invoice=invoice, energy_kwh=energy)
        except ValueError as exc:
            raise InvoiceReviewRefused(str(exc)) from None
        invoice.end_register = register
        invoice.save(update_fields=["end_register", *TOTALS_FIELDS])
    audit_log(
        actor=actor,
        action="invoice.correct_closing",
        invoice_id=invoice.number,
        device_id=invoice.device.device_id,
        month=month_label(invoice.month),
        old_closing_register=None if old["end_register"] is None else str(old["end_register"]),
        new_closing_register=str(register),
        old_energy_kwh=str(old["energy_kwh"]),
        new_energy_kwh=str(invoice.energy_kwh),
        old_total=str(old["total"]),
        new_total=str(invoice.total),
        reason=reason,
    )
    return invoice
