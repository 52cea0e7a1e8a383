"""django-q2 entry points: a few lines each, the work is in billing.services."""

import logging

from django.utils import timezone

from billing.models import BillingRun
from billing.months import last_complete_month
from billing.services import billing_run, invoices_mark_overdue
from billing.zone import billing_zone
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)


def run_monthly_billing() -> dict:
    """Scheduled at 00:05 on the 1st (billing time zone): bill the month that just ended."""
    month = last_complete_month(timezone.now(), billing_zone())
    try:
        outcome = billing_run(month=month, trigger=BillingRun.Trigger.SCHEDULE, actor="schedule")
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
