"""The billing run: bill every billable meter for a month, idempotently, one meter's failure never stopping the rest.

Re-running is always safe: a meter that already has its invoice is not billed
again, and an invoice whose email never went out (a crash or a mail outage) is
emailed by the next run. A run interrupted half-way therefore resumes where it
stopped when started again.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.models import User
from billing import emails
from billing.calculation import calculate_bill
from billing.models import BillingRun, Invoice
from billing.months import month_label
from billing.selectors import (
    billable_devices,
    billed_energy,
    month_has_ended,
    month_period,
    months_consumption,
    tariff_for_month,
)
from billing.services.invoices import invoice_email_issued, invoice_issue
from devices.models import Device
from ops.audit import audit_log
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500  # meters whose consumption is read in one go
MAX_DETAIL = 200  # meters listed per skip reason / failures kept on the run record

SKIP_REGISTERED_AFTER = "registered after the month, no readings in it"
SKIP_DECOMMISSIONED = "decommissioned before the month"


class BillingRunRefused(Exception):
    """The run cannot start (no tariff for the month, month not over, unknown meter); nothing was billed."""


@dataclass
class RunProgress:
    done: int
    total: int
    billed: int
    already_billed: int
    skipped: int
    failed: int
    elapsed: float


@dataclass
class PlannedBill:
    """What a dry run would do for one meter."""

    device_id: str
    action: str  # "bill", "already billed", "skip"
    energy_kwh: Decimal | None = None
    total: Decimal | None = None
    no_readings: bool = False
    reason: str = ""


@dataclass
class RunOutcome:
    run: BillingRun  # unsaved for a dry run
    planned: list[PlannedBill] = field(default_factory=list)
    dry_run: bool = False

    @property
    def emails_failed(self) -> int:
        return sum(1 for failure in self.run.failures if failure.get("stage") == "email")


def _note_skip(run: BillingRun, reason: str, device_id: str) -> None:
    run.skipped += 1
    meters = run.skipped_detail.setdefault(reason, [])
    if len(meters) < MAX_DETAIL:
        meters.append(device_id)


def _note_failure(run: BillingRun, device_id: str, stage: str, error: BaseException | str) -> None:
    if stage != "email":
        run.failed += 1
    if len(run.failures) < MAX_DETAIL:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        run.failures.append({"device_id": device_id, "stage": stage, "error": message[:500]})


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _close_abandoned_runs() -> None:
    """Runs still marked running whose process on this machine is gone were killed: mark them interrupted."""
    for stale in BillingRun.objects.filter(status=BillingRun.Status.RUNNING, host=socket.gethostname()):
        if stale.pid != os.getpid() and not _process_alive(stale.pid):
            stale.status = BillingRun.Status.INTERRUPTED
            stale.save(update_fields=["status"])
            logger.warning("Billing run %s was abandoned (its process is gone); marked interrupted", stale.pk)


def _devices(month: date, device_id: str | None) -> tuple[list[Device], list[str]]:
    """The meters to bill and, when one meter was named, why it is not billable."""
    devices = billable_devices(month=month)
    if not device_id:
        return list(devices), []
    device = Device.objects.select_related("owner").filter(device_id=device_id).first()
    if device is None:
        raise BillingRunRefused(f"No meter '{device_id}' is registered.")
    if not devices.filter(pk=device.pk).exists():
        return [], [SKIP_DECOMMISSIONED]
    return [device], []


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
) -> RunOutcome:
    """Bill ``month`` for every billable meter (or just ``device_id``); see the module docstring."""
    now = now or timezone.now()
    if not month_has_ended(month, now=now):
        raise BillingRunRefused(f"{month_label(month)} has not ended yet; it can be billed from the 1st of next month.")
    tariff = tariff_for_month(month=month)
    if tariff is None:
        raise BillingRunRefused(f"No tariff is in force for {month_label(month)}: add a tariff version first.")
    terms = tariff.terms()
    devices, refusal = _devices(month, device_id)
    _, month_end = month_period(month)

    run = BillingRun(
        month=month,
        trigger=trigger,
        device_id=device_id or "",
        meters=len(devices) or len(refusal),
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    outcome = RunOutcome(run=run, dry_run=dry_run)
    if refusal:
        _note_skip(run, refusal[0], device_id or "")
    if not dry_run:
        _close_abandoned_runs()
        run.save()
        audit_log(
            actor=actor,
            action="billing_run.start",
            billing_run_id=run.pk,
            month=month_label(month),
            **({"device_id": device_id} if device_id else {}),
        )

    started = time.monotonic()
    done = 0
    resumed_emails = 0
    last_reported = 0

    def report(force: bool = False) -> None:
        nonlocal last_reported
        if progress and (force or done - last_reported >= progress_every):
            last_reported = done
            progress(
                RunProgress(
                    done=done,
                    total=len(devices),
                    billed=run.billed,
                    already_billed=run.already_billed,
                    skipped=run.skipped,
                    failed=run.failed,
                    elapsed=time.monotonic() - started,
                )
            )

    # Dry runs send nothing; a real run sends all its emails over one mail-server session.
    mail_session = nullcontext() if dry_run else emails.one_connection()
    try:
        with mail_session:
            for offset in range(0, len(devices), chunk_size):
                if stop_requested():
                    break
                if not connection.in_atomic_block:  # a long run drops dead or expired connections between chunks
                    close_old_connections()
                chunk = devices[offset : offset + chunk_size]
                existing = {
                    row["device_id"]: row
                    for row in Invoice.objects.filter(month=month, device__in=chunk).values(
                        "device_id", "pk", "emailed_at"
                    )
                }
                to_bill = [device for device in chunk if device.pk not in existing]
                consumption = months_consumption(device_ids=[device.device_id for device in to_bill], month=month)
                for device in chunk:
                    if stop_requested():
                        break
                    done += 1
                    try:
                        if device.pk in existing:
                            run.already_billed += 1
                            if dry_run:
                                outcome.planned.append(PlannedBill(device_id=device.device_id, action="already billed"))
                            elif existing[device.pk]["emailed_at"] is None:
                                if invoice_email_issued(invoice_id=existing[device.pk]["pk"]):
                                    resumed_emails += 1
                                else:
                                    _note_failure(run, device.device_id, "email", "invoice email could not be sent")
                            continue
                        used = consumption[device.device_id]
                        if not used.has_readings and device.created_at >= month_end:
                            _note_skip(run, SKIP_REGISTERED_AFTER, device.device_id)
                            if dry_run:
                                outcome.planned.append(
                                    PlannedBill(device_id=device.device_id, action="skip", reason=SKIP_REGISTERED_AFTER)
                                )
                            continue
                        if dry_run:
                            bill = calculate_bill(billed_energy(used), terms)
                            run.billed += 1
                            outcome.planned.append(
                                PlannedBill(
                                    device_id=device.device_id,
                                    action="bill",
                                    energy_kwh=bill.energy_kwh,
                                    total=bill.total,
                                    no_readings=not used.has_readings,
                                )
                            )
                            continue
                        invoice, created = invoice_issue(
                            device=device,
                            month=month,
                            consumption=used,
                            tariff=tariff,
                            terms=terms,
                            run=run,
                            actor=actor,
                        )
                        if created:
                            run.billed += 1
                        else:
                            run.already_billed += 1
                    except Exception as exc:  # one meter's failure never stops the others
                        logger.exception("Billing failed for a meter", extra={"device_id": device.device_id})
                        TASK_FAILURES.labels(task="billing_meter").inc()
                        _note_failure(run, device.device_id, "bill", exc)
                    report()
                if not dry_run:
                    _save_counts(run, resumed_emails)
    except BaseException:
        if not dry_run:
            run.status = BillingRun.Status.FAILED
            run.finished_at = timezone.now()
            _save_counts(run, resumed_emails, final=True)
        raise

    interrupted = done < len(devices)
    run.status = BillingRun.Status.INTERRUPTED if interrupted else BillingRun.Status.FINISHED
    run.finished_at = timezone.now()
    report(force=True)
    if not dry_run:
        _save_counts(run, resumed_emails, final=True)
        audit_log(
            actor=actor,
            action="billing_run.finish",
            billing_run_id=run.pk,
            month=month_label(month),
            status=run.status,
            meters=run.meters,
            billed=run.billed,
            already_billed=run.already_billed,
            skipped=run.skipped,
            failed=run.failed,
            emails_sent=run.emails_sent,
        )
    return outcome


def _save_counts(run: BillingRun, resumed_emails: int, *, final: bool = False) -> None:
    new_invoices = Invoice.objects.filter(billing_run=run)
    run.emails_sent = resumed_emails + new_invoices.filter(emailed_at__isnull=False).count()
    if final:
        for number, device_id in new_invoices.filter(emailed_at__isnull=True).values_list(
            "number", "device__device_id"
        ):
            _note_failure(run, device_id, "email", f"invoice {number} was not emailed; the next run retries")
    fields = ["meters", "billed", "already_billed", "skipped", "failed", "emails_sent", "skipped_detail", "failures"]
    if final:
        fields += ["status", "finished_at"]
    run.save(update_fields=fields)
