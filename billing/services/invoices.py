"""Invoice writes: issue (once per meter and month), deliver by email, mark paid or overdue, regenerate the PDF."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from billing import emails
from billing.calculation import PER_CONNECTION, PER_KW, TariffTerms, calculate_bill, day_share
from billing.models import BillingRun, DocumentSequence, Invoice, Tariff
from billing.months import month_label
from billing.pdf import render_invoice_pdf
from billing.receivables import invoice_open_amount
from billing.selectors import bill_fields, bill_slab_rows, billed_energy, billing_today
from billing.services.kept_files import file_keep, file_read
from billing.services.late_fees import invoice_late_fee_charge
from billing.services.ledger import document_number_take, invoice_post
from billing.services.payments import payment_record
from billing.services.reminders import reminders_send
from billing.services.run_plan import MonthBill
from billing.services.send_once import send_once
from billing.zone import billing_zone
from devices.models import Device
from ops.audit import audit_log
from ops.metrics import INVOICES_ISSUED
from readings.types import Consumption

logger = logging.getLogger(__name__)


class InvoiceAlreadyPaid(Exception):
    pass


def held_invoice_number(*, device: Device, month: date) -> str:
    """A held bill's provisional id (month and meter key): it takes a number from the invoice series only
    when it is issued, so a bill that is never released leaves no gap in the series."""
    return f"HELD-{month:%Y%m}-{device.pk:06d}"


def plain_month_bill(
    consumption: Consumption, terms: TariffTerms, *, sanctioned_load_kw: Decimal | None = None
) -> MonthBill:
    """A whole month billed from its consumption alone (no earlier bill, estimate or split)."""
    bill = calculate_bill(billed_energy(consumption), terms, sanctioned_load_kw=sanctioned_load_kw)
    return MonthBill(
        bill=bill,
        parts=(),
        consumption=consumption,
        start_register=consumption.start_register,
        end_register=consumption.end_register,
        closing_at=consumption.closed_at,
        service_days=None,
    )


def month_bill_fields(month_bill: MonthBill) -> dict:
    """The invoice fields that record a month's bill (see billing.models.Invoice)."""
    bill, consumption = month_bill.bill, month_bill.consumption
    settlement = month_bill.settlement
    estimate = month_bill.estimate
    return {
        **bill_fields(bill, consumption),
        # The tariff's terms as this bill applied them: a re-rendered invoice reads them from here.
        "slab_style": bill.slab_style,
        "fixed_charge_basis": PER_KW if bill.fixed_charge_kw is not None else PER_CONNECTION,
        "fixed_charge_kw": bill.fixed_charge_kw,
        "fixed_charge_rate": bill.fixed_charge_rate,
        "minimum_charge": bill.minimum_charge,
        "minimum_top_up": bill.minimum_top_up,
        "start_register": month_bill.start_register,
        "end_register": month_bill.end_register,
        "closing_at": month_bill.closing_at,
        "total": settlement.total if settlement else bill.total,
        "credit_applied": settlement.credit_applied if settlement else Decimal("0.00"),
        "credit_carried": settlement.credit_carried if settlement else Decimal("0.00"),
        "estimated": estimate is not None,
        "estimate_basis": estimate.basis if estimate else "",
        "no_readings": not consumption.has_readings,
        "excluded_readings": [
            {
                "timestamp": excluded.timestamp.isoformat(),
                "register": str(excluded.register),
                "kind": excluded.kind,
                "reason": excluded.reason,
            }
            for excluded in consumption.excluded
        ],
        "adjustment_kwh": month_bill.adjustment_kwh,
        "adjustment_amount": month_bill.adjustment_amount,
        "adjustment_detail": [
            {
                "month": month_label(true_up.month),
                "estimated_kwh": str(true_up.estimated_kwh),
                "actual_kwh": str(true_up.actual_kwh),
                "kwh": str(true_up.kwh),
                "amount": str(true_up.amount),
            }
            for true_up in month_bill.true_ups
        ],
        "parts": [
            {
                "from": part.start.isoformat(),
                "until": part.end.isoformat(),
                "days": part.days,
                "share": str(day_share(part.days, sum(p.days for p, _ in month_bill.parts))),
                "tariff_id": part.tariff_id,
                "effective_from": part.effective_from.isoformat(),
                "energy_kwh": str(part_bill.energy_kwh),
                "slabs": bill_slab_rows(part_bill),
                "subtotal": str(part_bill.subtotal),
                "fixed_charge": str(part_bill.fixed_charge),
                "fixed_charge_kw": None if part_bill.fixed_charge_kw is None else str(part_bill.fixed_charge_kw),
                "fixed_charge_rate": None if part_bill.fixed_charge_rate is None else str(part_bill.fixed_charge_rate),
                "minimum_charge": None if part_bill.minimum_charge is None else str(part_bill.minimum_charge),
                "minimum_top_up": str(part_bill.minimum_top_up),
                "tax_rate": str(part_bill.tax_rate),
                "tax": str(part_bill.tax),
            }
            for part, part_bill in month_bill.parts
        ]
        if len(month_bill.parts) > 1
        else [],
        "service_days": month_bill.service_days,
        "held_reasons": list(month_bill.held_reasons),
    }


def invoice_build(
    *,
    device: Device,
    month: date,
    consumption: Consumption,
    tariff: Tariff | None = None,
    terms: TariffTerms | None = None,
    month_bill: MonthBill | None = None,
    issued_at: datetime | None = None,
) -> Invoice:
    """The unsaved invoice for a meter's month, with the bill computed and the customer's details frozen.

    ``month_bill`` is what the billing run planned; without it the month is billed from
    ``consumption`` alone under ``tariff``.
    """
    issued_at = issued_at or timezone.now()
    if month_bill is None:
        if tariff is None:
            raise ValueError("An invoice needs the month's planned bill or a tariff to bill its consumption.")
        month_bill = plain_month_bill(
            consumption, terms or tariff.terms(), sanctioned_load_kw=device.sanctioned_load_kw
        )
        tariff_id = tariff.pk
    else:
        tariff_id = month_bill.parts[0][0].tariff_id if month_bill.parts else tariff.pk
    owner = device.owner
    if owner is None:  # billable_devices never yields one; a direct call must not bill nobody
        raise ValueError(f"Meter '{device.device_id}' has no owner to bill: it is not claimed yet.")
    issue_day = issued_at.astimezone(billing_zone()).date()
    held = bool(month_bill.held_reasons)
    return Invoice(
        number=held_invoice_number(device=device, month=month),  # issuing takes the series number
        device=device,
        month=month,
        tariff_id=tariff_id,
        **month_bill_fields(month_bill),
        first_reading_at=consumption.first_reading_at,
        last_reading_at=consumption.last_reading_at,
        customer=owner,
        tax_label=Tariff.objects.values_list("tax_label", flat=True).get(pk=tariff_id),
        customer_name=owner.name,
        customer_email=owner.email,
        customer_address=owner.address,
        status=Invoice.Status.HELD if held else Invoice.Status.ISSUED,
        created_at=issued_at,
        due_date=issue_day + timedelta(days=settings.INVOICE_DUE_DAYS),
    )


def invoice_issue(
    *,
    device: Device,
    month: date,
    consumption: Consumption,
    tariff: Tariff | None = None,
    terms: TariffTerms | None = None,
    month_bill: MonthBill | None = None,
    run: BillingRun | None = None,
    actor: User | str | None = None,
) -> tuple[Invoice, bool]:
    """Issue the meter's invoice for the month, with its PDF; email it once the write commits.

    A bill held for review is saved with its PDF but not emailed: approving it sends it.
    Returns (invoice, created). When the invoice already exists (a re-run, or a
    concurrent run that won the race) nothing is created, rendered or sent.
    """
    existing = Invoice.objects.filter(device=device, month=month).first()
    if existing is not None:
        return existing, False
    invoice = invoice_build(
        device=device, month=month, consumption=consumption, tariff=tariff, terms=terms, month_bill=month_bill
    )
    invoice.billing_run = run
    try:
        with transaction.atomic():
            if not invoice.is_held:
                invoice.number = document_number_take(series=DocumentSequence.Series.INVOICE, on=invoice.issue_day)
            invoice.save(force_insert=True)
            if not invoice.is_held:
                invoice_late_fee_charge(invoice=invoice)  # first, so the invoice's amount due includes it
                invoice_post(invoice=invoice)
                transaction.on_commit(INVOICES_ISSUED.inc)
    except IntegrityError:
        existing = Invoice.objects.filter(device=device, month=month).first()
        if existing is None:
            raise
        return existing, False
    # Rendered after the commit (it prints the numbers and balances just taken): the number sequence is
    # never locked while a PDF is drawn. A PDF lost to a crash here is drawn on first use instead.
    pdf = invoice_pdf_store(invoice=invoice)
    if not invoice.is_held:
        transaction.on_commit(partial(invoice_email_issued, invoice_id=invoice.pk, pdf=pdf), robust=True)
    audit_log(
        actor=actor,
        action="invoice.hold" if invoice.is_held else "invoice.issue",
        invoice_id=invoice.number,
        device_id=device.device_id,
        month=month_label(month),
        energy_kwh=str(invoice.energy_kwh),
        total=str(invoice.total),
        tariff_id=invoice.tariff_id,
        no_readings=invoice.no_readings,
        estimated=invoice.estimated,
        adjustment_kwh=str(invoice.adjustment_kwh),
        closing_register=str(invoice.end_register),
        **({"held_reasons": invoice.held_reasons} if invoice.is_held else {}),
        billing_run_id=run.pk if run else None,
    )
    return invoice, True


def invoice_pdf_store(*, invoice: Invoice) -> bytes:
    """Render the invoice's PDF from its snapshot and keep it (replacing the file kept before)."""
    pdf = render_invoice_pdf(invoice)
    file_keep(instance=invoice, field="pdf", filename=invoice.pdf_filename, content=pdf)
    return pdf


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    """The stored PDF, or, when the file is gone, the same document rendered again from the invoice's snapshot."""
    return file_read(invoice.pdf) or invoice_pdf_store(invoice=invoice)


def invoice_email_issued(*, invoice_id: int, pdf: bytes | None = None) -> bool:
    """Email the invoice to its customer, at most once: the invoice is claimed before sending.

    Returns True when this call sent it. A failed send releases the claim, so the
    next billing run (or an admin "resend") tries again.
    """
    invoice = Invoice.objects.select_related("device").get(pk=invoice_id)
    sent = send_once(
        row=Invoice.objects.filter(pk=invoice_id).exclude(status=Invoice.Status.HELD),  # held: sent on approval
        field="emailed_at",
        send=lambda: emails.send_invoice_issued(
            invoice, pdf=pdf if pdf is not None else invoice_pdf_bytes(invoice=invoice)
        ),
        task="invoice_email",
        extra={"invoice_id": invoice.number},
    )
    if sent:
        logger.info("Invoice emailed", extra={"invoice_id": invoice.number, "device_id": invoice.device.device_id})
    return sent


def invoice_email_resend(*, invoice: Invoice, actor: User | None = None) -> None:
    """Staff action: send the invoice email again, whatever was sent before."""
    emails.send_invoice_issued(invoice, pdf=invoice_pdf_bytes(invoice=invoice))
    Invoice.objects.filter(pk=invoice.pk).update(emailed_at=timezone.now())
    audit_log(actor=actor, action="invoice.resend_email", invoice_id=invoice.number)


def invoice_mark_paid(
    *,
    invoice: Invoice,
    paid_date: date | None = None,
    method: str = "cash",
    reference: str = "",
    actor: User | None = None,
):
    """Staff shortcut: record a payment of what is still open on the invoice (None when nothing is open)."""
    open_amount = invoice_open_amount(invoice=invoice)
    if open_amount <= 0:
        return None
    return payment_record(
        account=invoice.account,
        amount=open_amount,
        method=method,
        received_on=paid_date or billing_today(),
        reference=reference or f"Invoice {invoice.number}",
        actor=actor,
    )


def invoice_regenerate_pdf(*, invoice: Invoice, actor: User | None = None) -> Invoice:
    """Render an unpaid invoice's PDF again from its snapshot (after a template or utility-details change)."""
    if invoice.status == Invoice.Status.PAID:
        raise InvoiceAlreadyPaid(f"Invoice {invoice.number} is paid; its PDF is final.")
    invoice_pdf_store(invoice=invoice)
    audit_log(actor=actor, action="invoice.regenerate_pdf", invoice_id=invoice.number)
    return invoice


def invoices_mark_overdue(*, today: date | None = None) -> dict[str, int]:
    """Daily: mark issued invoices past their due date overdue, then send the payment reminders due today
    (before the due date, after it, final notice: billing.services.reminders).

    Safe to run any number of times a day: the status change is a conditional update, and each
    reminder stage is claimed (a Reminder row) before it is sent.
    """
    today = today or billing_today()
    with transaction.atomic():
        due = list(
            Invoice.objects.select_for_update()
            .filter(status=Invoice.Status.ISSUED, due_date__lt=today)
            .values_list("pk", "number")
        )
        marked = Invoice.objects.filter(pk__in=[pk for pk, _ in due], status=Invoice.Status.ISSUED).update(
            status=Invoice.Status.OVERDUE
        )
    for _, number in due:
        audit_log(actor=None, action="invoice.overdue", invoice_id=number)
    reminders = reminders_send(today=today)
    logger.info("Overdue invoices processed", extra={"marked": marked, **reminders})
    return {"marked_overdue": marked, **reminders}
