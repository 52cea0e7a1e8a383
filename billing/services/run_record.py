"""The billing run's record as the run goes: counts, skip reasons and failures, progress reports, dead runs.

A real run saves its BillingRun's counts after every chunk (and every few seconds
within one), so a crash or a kill leaves an accurate record and the back office
shows the run's progress as it goes; a dry run counts on an unsaved one. See
docs/billing.md#the-billing-run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from billing.models import BillingRun, Invoice

logger = logging.getLogger(__name__)

MAX_DETAIL = 200  # meters listed per skip reason / failures kept on the run record


@dataclass
class RunProgress:
    """What a run's progress callback is given: meters done out of total, and the counts so far."""

    done: int
    total: int
    billed: int
    already_billed: int
    skipped: int
    failed: int
    elapsed: float


class RunProgressReporter:
    """Calls ``callback`` every ``every`` meters (when asked to report) with the run's counts so far."""

    def __init__(
        self, *, run: BillingRun, total: int, callback: Callable[[RunProgress], None] | None, every: int
    ) -> None:
        self.run, self.total, self.callback, self.every = run, total, callback, every
        self.done = 0
        self.last_reported = 0
        self.started = time.monotonic()

    def report(self, *, force: bool = False) -> None:
        if self.callback and (force or self.done - self.last_reported >= self.every):
            self.last_reported = self.done
            self.callback(
                RunProgress(
                    done=self.done,
                    total=self.total,
                    billed=self.run.billed,
                    already_billed=self.run.already_billed,
                    skipped=self.run.skipped,
                    failed=self.run.failed,
                    elapsed=time.monotonic() - self.started,
                )
            )


def note_skip(run: BillingRun, reason: str, device_id: str) -> None:
    run.skipped += 1
    meters = run.skipped_detail.setdefault(reason, [])
    if len(meters) < MAX_DETAIL:
        meters.append(device_id)


def note_failure(run: BillingRun, device_id: str, stage: str, error: BaseException | str) -> None:
    if stage != "email":
        run.failed += 1
    if len(run.failures) < MAX_DETAIL:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        run.failures.append({"device_id": device_id, "stage": stage, "error": message[:500]})


def save_counts(run: BillingRun, resumed_emails: int, *, final: bool = False) -> None:
    """Save the counts so far; ``final`` also saves the status and lists this run's invoices left unemailed."""
    new_invoices = Invoice.objects.filter(billing_run=run)
    run.emails_sent = resumed_emails + new_invoices.filter(emailed_at__isnull=False).count()
    if final:
        for number, device_id in new_invoices.filter(emailed_at__isnull=True).values_list(
            "number", "device__device_id"
        ):
            note_failure(run, device_id, "email", f"invoice {number} was not emailed; the next run retries")
    fields = [
        "meters",
        "billed",
        "already_billed",
        "skipped",
        "held",
        "estimated",
        "awaiting",
        "failed",
        "emails_sent",
        "skipped_detail",
        "failures",
    ]
    if final:
        fields += ["status", "finished_at"]
    run.save(update_fields=fields)


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


def close_abandoned_runs() -> None:
    """Runs still marked running whose process on this machine is gone were killed: mark them interrupted."""
    for stale in BillingRun.objects.filter(status=BillingRun.Status.RUNNING, host=socket.gethostname()):
        if stale.pid != os.getpid() and not _process_alive(stale.pid):
            stale.status = BillingRun.Status.INTERRUPTED
            stale.save(update_fields=["status"])
            logger.warning("Billing run %s was abandoned (its process is gone); marked interrupted", stale.pk)
