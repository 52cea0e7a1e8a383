"""django-q2 entry points: a few lines each, the work is in billing.services."""

import logging
from datetime import datetime

from django.utils import timezone

from billing.models import BillingRun
from billing.months import last_complete_month, month_label
from billing.selectors import billing_due
from billing.services import billing_run, billing_run_carry_out_requested, invoices_mark_overdue
from billing.services.receipts import receipt_deliver
from billing.zone import billing_zone
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)


def run_monthly_billing(now: datetime | None = None) -> dict:
    """Scheduled hourly at :05 (billing time zone): bill the month that just ended, as its closing reads arrive.

    Every hour of the month's first day, then daily at 00:05 until the grace period for
    closing reads is over (the run after it bills estimates); never when every meter is
    billed. docs/billing.md#closing-reads.
    """
    now = now or timezone.now()
    month = last_complete_month(now, billing_zone())
    if not billing_due(month, now=now):
        return {"month": month_label(month), "status": "not due"}
    try:
        outcome = billing_run(month=month, trigger=BillingRun.Trigger.SCHEDULE, actor="schedule", now=now)
    except Exception:
        TASK_FAILURES.labels(task="run_monthly_billing").inc()
        logger.exception("Scheduled billing run failed")
        raise
    run = outcome.run
    return {"billing_run_id": run.pk, "status": str(run.status), "billed": run.billed, "failed": run.failed}


def mark_overdue_invoices() -> dict:
    """Daily: unpaid invoices past their due date become overdue and get one reminder."""
    try:
        return invoices_mark_overdue()
    except Exception:
        TASK_FAILURES.labels(task="mark_overdue_invoices").inc()
        logger.exception("Overdue invoice task failed")
        raise


def run_requested_billing(run_id: int) -> dict:
    """Queued when staff start a billing run from the back office: carry out that run on its record."""
    try:
        run = billing_run_carry_out_requested(run_id=run_id)
    except Exception:
        TASK_FAILURES.labels(task="run_requested_billing").inc()
        logger.exception("Requested billing run failed", extra={"billing_run_id": run_id})
        raise
    if run is None:
        return {"billing_run_id": run_id, "status": "already claimed"}
    return {"billing_run_id": run.pk, "status": str(run.status), "billed": run.billed, "failed": run.failed}


def receipts_deliver(payment_ids: list[int]) -> dict:
    """Queued by a bulk payment import: draw and email each payment's receipt (each at most once)."""
    sent = sum(receipt_deliver(payment_id=payment_id) for payment_id in payment_ids)
    return {"receipts": len(payment_ids), "emailed": sent}
