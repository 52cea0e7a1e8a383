"""Billing runs started from the back office: the request (a run record and a queued task) and
the task worker's side (claim the record once, carry the run out on it).

The record exists from the moment staff ask, so the page can follow it; it shows as running
while it waits for a task worker. See docs/billing.md#starting-a-run-from-the-back-office.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.models import BillingRun, Tariff
from billing.months import month_label
from billing.selectors import month_has_ended, tariff_for_month
from billing.services.run_record import close_abandoned_runs
from billing.services.runs import BillingRunRefused, billing_run
from devices.models import Device
from ops.audit import audit_log

RUN_TASK = "billing.tasks.run_requested_billing"


def billing_run_check_month(*, month: date, now: datetime | None = None) -> None:
    """Refuse (BillingRunRefused) a month that has not ended or that no tariff covers."""
    if not month_has_ended(month, now=now):
        raise BillingRunRefused(
            f"{month_label(month)} has not ended yet; it can be billed from the 1st of the next month."
        )
    if tariff_for_month(month=month) is None:
        first = Tariff.objects.order_by("effective_from").values_list("effective_from", flat=True).first()
        if first is None:
            raise BillingRunRefused("No tariff exists yet: add a tariff version before billing.")
        raise BillingRunRefused(
            f"{month_label(month)} is before the first tariff (in force from {first:%d %b %Y}): "
            "months before it cannot be billed."
        )


def billing_run_running(*, month: date) -> BillingRun | None:
    """The run of ``month`` still running (or waiting for a task worker), if any; runs whose
    process on this machine has died are marked interrupted first."""
    close_abandoned_runs()
    return BillingRun.objects.filter(month=month, status=BillingRun.Status.RUNNING).order_by("started_at").first()


@transaction.atomic
def billing_run_request(
    *, month: date, device_id: str = "", requested_by: User, now: datetime | None = None
) -> BillingRun:
    """Record a back-office run of ``month`` (or one meter) and queue it for a task worker after commit.

    Refused while another run of the month is running, for a month that cannot be billed yet
    or at all, and for an unknown meter.
    """
    billing_run_check_month(month=month, now=now)
    device_id = device_id.strip()
    if device_id and not Device.objects.filter(device_id=device_id).exists():
        raise BillingRunRefused(f"No meter '{device_id}' is registered.")
    running = billing_run_running(month=month)
    if running is not None:
        raise BillingRunRefused(
            f"Billing run #{running.pk} for {month_label(month)} is still running "
            f"(started {timezone.localtime(running.started_at):%d %b %Y %H:%M}); wait for it to finish."
        )
    run = BillingRun.objects.create(
        month=month,
        trigger=BillingRun.Trigger.ADMIN,
        device_id=device_id,
        requested_by=requested_by,
        status=BillingRun.Status.RUNNING,
    )
    audit_log(
        actor=requested_by,
        action="billing_run.request",
        billing_run_id=run.pk,
        month=month_label(month),
        **({"device_id": device_id} if device_id else {}),
    )
    transaction.on_commit(lambda: _queue(run.pk))
    return run


def _queue(run_id: int) -> None:
    from django_q.tasks import async_task

    async_task(RUN_TASK, run_id, task_name=f"billing run #{run_id}")


def billing_run_carry_out_requested(*, run_id: int) -> BillingRun | None:
    """The task worker's side: claim the requested run (once: a repeated delivery of the task
    does nothing) and carry it out on its record. Returns the run, or None when it was not claimed."""
    claimed = BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.RUNNING, pid__isnull=True).update(
        started_at=timezone.now(), pid=0
    )
    if not claimed:
        return None
    run = BillingRun.objects.select_related("requested_by").get(pk=run_id)
    try:
        outcome = billing_run(
            month=run.month,
            device_id=run.device_id or None,
            trigger=run.trigger,
            actor=run.requested_by or "back office",
            run=run,
        )
    except Exception as exc:
        _fail_unstarted(run_id, exc)
        if not isinstance(exc, BillingRunRefused):  # refused: the month or the meter changed since the request
            raise
        return BillingRun.objects.get(pk=run_id)
    return outcome.run


def _fail_unstarted(run_id: int, error: Exception) -> None:
    """A run that stopped before billing began (its record never got its host) failed; a run that
    had begun recorded its own end."""
    message = str(error) if isinstance(error, BillingRunRefused) else f"{type(error).__name__}: {error}"
    BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.RUNNING, host="").update(
        status=BillingRun.Status.FAILED,
        finished_at=timezone.now(),
        failures=[{"device_id": "", "stage": "start", "error": message[:500]}],
    )
