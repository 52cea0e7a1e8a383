"""Payment reminders: before the due date, after it, and a final notice, each sent at most once per invoice
and only while the invoice is open. Rules: docs/billing.md#payment-reminders."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import emails
from billing.late_fee import add_months
from billing.models import Invoice, Reminder
from billing.pdf import render_statement_pdf
from billing.receivables import account_balance, account_statement, invoice_open_amount
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)

STAGE_ORDER = (Reminder.Stage.BEFORE_DUE, Reminder.Stage.AFTER_DUE, Reminder.Stage.FINAL)
OPEN_STATUSES = (Invoice.Status.ISSUED, Invoice.Status.OVERDUE)


def reminder_stage(*, due_date: date, today: date) -> str | None:
    """The stage an open invoice is at on ``today``: the latest one reached, or None between stages."""
    days_past_due = (today - due_date).days
    if days_past_due >= settings.REMINDER_FINAL_NOTICE_DAYS:
        return Reminder.Stage.FINAL
    if days_past_due >= settings.REMINDER_AFTER_DUE_DAYS:
        return Reminder.Stage.AFTER_DUE
    if -settings.REMINDER_BEFORE_DUE_DAYS <= days_past_due <= 0:
        return Reminder.Stage.BEFORE_DUE
    return None


@dataclass(frozen=True)
class ReminderPlan:
    invoice_id: int
    stage: str


def reminders_plan(*, today: date) -> list[ReminderPlan]:
    """Each open invoice whose customer takes invoice emails and that is at a stage neither it nor a later
    stage was sent for. An invoice first seen late gets only the latest stage it has reached."""
    candidates = Invoice.objects.filter(
        status__in=OPEN_STATUSES,
        due_date__lte=today + timedelta(days=settings.REMINDER_BEFORE_DUE_DAYS),
        customer__receive_invoice_emails=True,
    ).values_list("pk", "due_date")
    sent: dict[int, set[str]] = {}
    for invoice_id, stage in Reminder.objects.filter(
        invoice__status__in=OPEN_STATUSES,
        invoice__due_date__lte=today + timedelta(days=settings.REMINDER_BEFORE_DUE_DAYS),
    ).values_list("invoice_id", "stage"):
        sent.setdefault(invoice_id, set()).add(stage)
    plan = []
    for invoice_id, due_date in candidates.order_by("due_date", "pk"):
        stage = reminder_stage(due_date=due_date, today=today)
        if stage is None:
            continue
        reached = STAGE_ORDER[STAGE_ORDER.index(stage) :]
        if sent.get(invoice_id, set()) & set(reached):
            continue
        plan.append(ReminderPlan(invoice_id=invoice_id, stage=stage))
    return plan


def _claim(invoice_id: int, stage: str) -> Reminder | None:
    try:
        with transaction.atomic():
            return Reminder.objects.create(invoice_id=invoice_id, stage=stage, sent_at=timezone.now())
    except IntegrityError:  # another run claimed it
        return None


def statement_pdf_for_reminder(*, invoice: Invoice, today: date) -> tuple[str, bytes]:
    """The account's statement from the first of the month REMINDER_STATEMENT_MONTHS back until today."""
    start = add_months(today.replace(day=1), -(settings.REMINDER_STATEMENT_MONTHS - 1))
    statement = account_statement(account=invoice.account, start=start, end=today)
    return f"statement-{invoice.account.consumer_number}-{today:%Y-%m-%d}.pdf", render_statement_pdf(
        statement, today=today
    )


SENT, FAILED = "sent", "failed"


def reminder_send(*, invoice_id: int, stage: str, today: date) -> str | None:
    """Claim the stage for the invoice, then send it; a failed send gives the claim back for the next run.
    Returns SENT, FAILED, or None when there was nothing to send (paid, settled, claimed elsewhere)."""
    invoice = (
        Invoice.objects.select_related("device", "customer", "account")
        .filter(pk=invoice_id, status__in=OPEN_STATUSES, customer__receive_invoice_emails=True)
        .first()
    )
    if invoice is None or invoice.account is None:
        return None
    open_amount = invoice_open_amount(invoice=invoice)
    if open_amount <= 0:
        return None
    reminder = _claim(invoice_id, stage)
    if reminder is None:
        return None
    try:
        filename, pdf = statement_pdf_for_reminder(invoice=invoice, today=today)
        emails.send_payment_reminder(
            invoice,
            stage=stage,
            open_amount=open_amount,
            balance=account_balance(account=invoice.account),
            today=today,
            statement=(filename, pdf),
        )
    except Exception:
        reminder.delete()
        TASK_FAILURES.labels(task="invoice_reminder").inc()
        logger.exception("Payment reminder failed", extra={"invoice_id": invoice.number, "stage": stage})
        return FAILED
    Invoice.objects.filter(pk=invoice_id).update(reminder_sent_at=reminder.sent_at)
    logger.info("Payment reminder sent", extra={"invoice_id": invoice.number, "stage": stage})
    return SENT


def reminders_send(*, today: date) -> dict[str, int]:
    """Send every reminder due today (safe to run any number of times: each stage is claimed once)."""
    outcomes = {SENT: 0, FAILED: 0}
    with emails.one_connection():
        for item in reminders_plan(today=today):
            outcome = reminder_send(invoice_id=item.invoice_id, stage=item.stage, today=today)
            if outcome is not None:
                outcomes[outcome] += 1
    return {"reminders_sent": outcomes[SENT], "reminders_failed": outcomes[FAILED]}
