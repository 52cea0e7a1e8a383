"""The billing run: bill every billable meter for a month, idempotently, one meter's failure never stopping the rest.

Each chunk of meters is planned by ``run_plan`` (pure) from facts read here in a
few bulk queries, then carried out here; a dry run returns the plan and does
nothing. A run requested from the back office arrives with its record already
made (``run=``); otherwise the run makes its own. Re-running is always safe: a meter that already has its invoice is not
billed again, and an invoice whose email never went out is emailed by the next
run, so an interrupted run resumes where it stopped. See docs/billing.md#the-billing-run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.models import User
from billing import emails
from billing.models import BillingRun
from billing.months import month_label
from billing.selectors import billable_devices, month_has_ended
from billing.services.invoices import invoice_email_issued, invoice_issue
from billing.services.run_facts import NoTariffForMonth, meter_facts, month_context
from billing.services.run_plan import (
    AWAITING_CLOSING_READ,
    SKIP_DECOMMISSIONED,
    SKIP_UNCLAIMED,
    AlreadyBilled,
    AwaitClosingRead,
    CannotBill,
    IssueInvoice,
    MeterAction,
    MonthContext,
    ResendInvoiceEmail,
    SkipMeter,
    plan_meters,
)
from billing.services.run_record import (
    MAX_DETAIL,
    RunProgress,
    RunProgressReporter,
    close_abandoned_runs,
    note_failure,
    note_skip,
    save_counts,
)
from devices.models import Device
from ops.audit import audit_log
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500  # meters whose consumption is read in one go
SAVE_EVERY_SECONDS = 2.0  # within a chunk, the run record's counts are saved at least this often


class BillingRunRefused(Exception):
    """The run cannot start (no tariff for the month, month not over, unknown meter); nothing was billed."""


@dataclass
class RunOutcome:
    run: BillingRun  # unsaved for a dry run
    planned: list[MeterAction] = field(default_factory=list)  # a dry run's plan, one action per meter
    dry_run: bool = False

    @property
    def emails_failed(self) -> int:
        return sum(1 for failure in self.run.failures if failure.get("stage") == "email")


def billing_run(
    *,
    month: date,
    device_id: str | None = None,
    dry_run: bool = False,
    trigger: str = BillingRun.Trigger.COMMAND,
    actor: User | str | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    chunk_size: int = CHUNK_SIZE,
    progress_every: int = 100,
    now: datetime | None = None,
    run: BillingRun | None = None,
) -> RunOutcome:
    """Bill ``month`` for every billable meter (or just ``device_id``); see the module docstring.

    ``run``: the saved record of a requested run (status running) to carry out and count on,
    instead of a new one; its trigger stands. Not for a dry run.
    """
    if run is not None and dry_run:
        raise ValueError("a dry run keeps no record: do not pass run=")
    now = now or timezone.now()
    if not month_has_ended(month, now=now):
        raise BillingRunRefused(f"{month_label(month)} has not ended yet; it can be billed from the 1st of next month.")
    try:
        context = month_context(month, now=now)
    except NoTariffForMonth:
        message = f"No tariff is in force for {month_label(month)}: add a tariff version first."
        raise BillingRunRefused(message) from None
    devices, not_billable = _devices(month, device_id)

    if run is None:
        run = BillingRun(month=month, trigger=trigger)
    run.month, run.device_id = month, device_id or ""
    run.meters = len(devices) or int(not_billable is not None)
    run.host, run.pid = socket.gethostname(), os.getpid()
    if not_billable is not None:
        note_skip(run, not_billable.reason, not_billable.device_id)
    reporter = RunProgressReporter(run=run, total=len(devices), callback=progress, every=progress_every)
    plans = _planned_chunks(devices, context=context, chunk_size=chunk_size, stop_requested=stop_requested)
    if dry_run:
        planned = _rehearse(plans, run=run, reporter=reporter, stop_requested=stop_requested)
        _finish(run, reporter)
        return RunOutcome(run=run, planned=[not_billable, *planned] if not_billable else planned, dry_run=True)
    _execute(
        plans,
        run=run,
        reporter=reporter,
        stop_requested=stop_requested,
        month=month,
        actor=actor,
    )
    return RunOutcome(run=run)


# --- Deciding: facts in bulk, then the pure plan -------------------------------


def _devices(month: date, device_id: str | None) -> tuple[list[Device], SkipMeter | None]:
    """The meters to bill and, when one meter was named but is not billable, its skip."""
    devices = billable_devices(month=month)
    if not device_id:
        return list(devices), None
    device = Device.objects.select_related("owner").filter(device_id=device_id).first()
    if device is None:
        raise BillingRunRefused(f"No meter '{device_id}' is registered.")
    if not devices.filter(pk=device.pk).exists():
        return [], SkipMeter(
            device_id=device_id, reason=SKIP_UNCLAIMED if device.owner_id is None else SKIP_DECOMMISSIONED
        )
    return [device], None


def _planned_chunks(
    devices: list[Device], *, context: MonthContext, chunk_size: int, stop_requested: Callable[[], bool]
) -> Iterator[tuple[dict[str, Device], list[MeterAction]]]:
    """Each chunk's meters (by device_id) and their actions, planned only when the previous chunk is done."""
    for offset in range(0, len(devices), chunk_size):
        if stop_requested():
            return
        if not connection.in_atomic_block:  # a long run drops dead or expired connections between chunks
            close_old_connections()
        chunk = devices[offset : offset + chunk_size]
        facts = meter_facts(chunk, context)
        yield {device.device_id: device for device in chunk}, plan_meters(facts, context)


# --- Carrying out --------------------------------------------------------------


def _rehearse(
    plans: Iterator[tuple[dict[str, Device], list[MeterAction]]],
    *,
    run: BillingRun,
    reporter: RunProgressReporter,
    stop_requested: Callable[[], bool],
) -> list[MeterAction]:
    """A dry run: count the plan as the run would, and do none of it."""
    planned: list[MeterAction] = []
    for _, actions in plans:
        for action in actions:
            if stop_requested():
                break
            reporter.done += 1
            planned.append(action)
            match action:
                case IssueInvoice():
                    _count_issued(run, action)
                case AlreadyBilled() | ResendInvoiceEmail():
                    run.already_billed += 1
                case SkipMeter(device_id=device_id, reason=reason):
                    note_skip(run, reason, device_id)
                case AwaitClosingRead(device_id=device_id):
                    _count_awaiting(run, device_id)
                case CannotBill(device_id=device_id, error=error):
                    _meter_failed(run, device_id, error)
                    reporter.report()
    return planned


def _execute(
    plans: Iterator[tuple[dict[str, Device], list[MeterAction]]],
    *,
    run: BillingRun,
    reporter: RunProgressReporter,
    stop_requested: Callable[[], bool],
    month: date,
    actor: User | str | None,
) -> None:
    """Carry the plan out chunk by chunk, recording the run as it goes (so a crash leaves an accurate record)."""
    close_abandoned_runs()
    run.save()
    audit_log(
        actor=actor,
        action="billing_run.start",
        billing_run_id=run.pk,
        month=month_label(month),
        **({"device_id": run.device_id} if run.device_id else {}),
    )
    meters = _MeterWork(run=run, month=month, actor=actor)
    saved_at = time.monotonic()
    try:
        with emails.one_connection():  # every email of the run over one mail-server session
            for devices, actions in plans:
                for action in actions:
                    if stop_requested():
                        break
                    reporter.done += 1
                    try:
                        meters.carry_out(action, devices)
                    except Exception as exc:  # one meter's failure never stops the others
                        _meter_failed(run, action.device_id, exc)
                        reporter.report()
                        continue
                    if isinstance(action, IssueInvoice | CannotBill):
                        reporter.report()  # progress lines come as meters are billed or fail, not as they pass
                    if time.monotonic() - saved_at >= SAVE_EVERY_SECONDS:  # live progress within a long chunk
                        save_counts(run, meters.resumed_emails)
                        saved_at = time.monotonic()
                save_counts(run, meters.resumed_emails)
                saved_at = time.monotonic()
    except BaseException:
        run.status = BillingRun.Status.FAILED
        run.finished_at = timezone.now()
        save_counts(run, meters.resumed_emails, final=True)
        raise
    _finish(run, reporter)
    save_counts(run, meters.resumed_emails, final=True)
    audit_log(
        actor=actor,
        action="billing_run.finish",
        billing_run_id=run.pk,
        month=month_label(month),
        status=run.status,
        meters=run.meters,
        billed=run.billed,
        held=run.held,
        estimated=run.estimated,
        awaiting=run.awaiting,
        already_billed=run.already_billed,
        skipped=run.skipped,
        failed=run.failed,
        emails_sent=run.emails_sent,
    )


class _MeterWork:
    """Carries out one meter's action in a real run and counts it on the run record."""

    def __init__(self, *, run: BillingRun, month: date, actor: User | str | None) -> None:
        self.run, self.month, self.actor = run, month, actor
        self.resumed_emails = 0  # emails of earlier runs' invoices sent by this one

    def carry_out(self, action: MeterAction, devices: dict[str, Device]) -> None:
        run = self.run
        match action:
            case IssueInvoice(device_id=device_id, consumption=consumption, month_bill=month_bill):
                _, created = invoice_issue(
                    device=devices[device_id],
                    month=self.month,
                    consumption=consumption,
                    month_bill=month_bill,
                    run=run,
                    actor=self.actor,
                )
                if created:
                    _count_issued(run, action)
                else:  # a concurrent run issued it first
                    run.already_billed += 1
            case AlreadyBilled():
                run.already_billed += 1
            case ResendInvoiceEmail(device_id=device_id, invoice_pk=invoice_pk):
                run.already_billed += 1
                if invoice_email_issued(invoice_id=invoice_pk):
                    self.resumed_emails += 1
                else:
                    note_failure(run, device_id, "email", "invoice email could not be sent")
            case SkipMeter(device_id=device_id, reason=reason):
                note_skip(run, reason, device_id)
            case AwaitClosingRead(device_id=device_id):
                _count_awaiting(run, device_id)
            case CannotBill(device_id=device_id, error=error):
                _meter_failed(run, device_id, error)


def _count_issued(run: BillingRun, action: IssueInvoice) -> None:
    """An invoice issued (or held for review, not emailed), and whether it is an estimate."""
    if action.held:
        run.held += 1
    else:
        run.billed += 1
    if action.estimated:
        run.estimated += 1


def _count_awaiting(run: BillingRun, device_id: str) -> None:
    """Not billed yet: the month waits for a reading at or after its end."""
    run.awaiting += 1
    meters = run.skipped_detail.setdefault(AWAITING_CLOSING_READ, [])
    if len(meters) < MAX_DETAIL:
        meters.append(device_id)


def _finish(run: BillingRun, reporter: RunProgressReporter) -> None:
    interrupted = reporter.done < reporter.total
    run.status = BillingRun.Status.INTERRUPTED if interrupted else BillingRun.Status.FINISHED
    run.finished_at = timezone.now()
    reporter.report(force=True)


def _meter_failed(run: BillingRun, device_id: str, error: BaseException | str) -> None:
    """Log and count a meter that failed to bill; the run goes on."""
    if isinstance(error, BaseException):
        logger.exception("Billing failed for a meter", extra={"device_id": device_id})
    else:
        logger.error("Billing failed for a meter: %s", error, extra={"device_id": device_id})
    TASK_FAILURES.labels(task="billing_meter").inc()
    note_failure(run, device_id, "bill", error)
