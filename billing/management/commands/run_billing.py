"""python manage.py run_billing [--month YYYY-MM] [--device ID] [--dry-run]

Bills every billable meter for a month (default: the month that just ended in
the billing time zone). Safe to run again at any time: meters already billed
are left alone and unsent invoice emails are retried, so an interrupted run
resumes where it stopped. SIGINT/SIGTERM finish the meter in hand and stop.
"""

import signal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.models import BillingRun
from billing.months import MonthInvalid, last_complete_month, month_label, parse_month
from billing.services import BillingRunRefused, RunProgress, billing_run
from billing.services.run_plan import AWAITING_CLOSING_READ, IssueInvoice, ResendInvoiceEmail
from billing.zone import billing_zone


class Command(BaseCommand):
    help = "Issue the month's invoices (PDF + email) for every billable meter; idempotent and resumable."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM to bill (default: the previous month in BILLING_TIME_ZONE).")
        parser.add_argument("--device", help="Bill only this meter (its device_id).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan (what would be billed or emailed); do none of it."
        )
        parser.add_argument("--chunk-size", type=int, default=500, help="Meters whose consumption is read at once.")

    def handle(self, *args, month=None, device=None, dry_run=False, chunk_size=500, **options):
        try:
            billed_month = parse_month(month) if month else last_complete_month(timezone.now(), billing_zone())
        except MonthInvalid as exc:
            raise CommandError(str(exc)) from None
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")

        self.stop = False
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        label = month_label(billed_month)
        scope = f"meter {device}" if device else "every billable meter"
        self.stdout.write(f"{'Dry run: ' if dry_run else ''}billing {label} for {scope}")
        try:
            outcome = billing_run(
                month=billed_month,
                device_id=device,
                dry_run=dry_run,
                trigger=BillingRun.Trigger.COMMAND,
                actor="run_billing",
                progress=self._progress,
                stop_requested=lambda: self.stop,
                chunk_size=chunk_size,
            )
        except BillingRunRefused as exc:
            raise CommandError(str(exc)) from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._summary(outcome)
        if outcome.run.status == BillingRun.Status.INTERRUPTED:
            raise CommandError("Interrupted: run the same command again to resume.")
        if outcome.run.failed:
            raise CommandError(f"{outcome.run.failed} meter(s) failed: fix the cause and run again to bill them.")

    def _request_stop(self, signum, frame):
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        self.stderr.write("Stopping after the meter in hand (signal again to abort at once)...")

    def _progress(self, p: RunProgress):
        rate = p.billed / p.elapsed if p.elapsed > 0 else 0.0
        self.stdout.write(
            f"  {p.done}/{p.total} meters  billed {p.billed}  already billed {p.already_billed}"
            f"  skipped {p.skipped}  failed {p.failed}  ({rate:.1f} invoices/s)"
        )

    def _plan(self, planned):
        """The work a real run would do; meters with nothing to do, skipped or failing show in the summary."""
        for action in planned:
            match action:
                case IssueInvoice(device_id=device_id, bill=bill, month_bill=month_bill):
                    notes = [
                        "estimated" if action.estimated else "",
                        "no readings" if action.no_readings and not action.estimated else "",
                        "held for review: " + "; ".join(month_bill.held_reasons) if action.held else "",
                    ]
                    note = "".join(f"  ({text})" for text in notes if text)
                    total = month_bill.settlement.total if month_bill and month_bill.settlement else bill.total
                    self.stdout.write(f"  would bill {device_id}: {bill.energy_kwh} kWh, total {total}{note}")
                case ResendInvoiceEmail(device_id=device_id, invoice_number=number):
                    self.stdout.write(f"  would resend the unsent email of {device_id}'s invoice {number}")

    def _summary(self, outcome):
        run = outcome.run
        if outcome.dry_run:
            self._plan(outcome.planned)
        title = "Dry run summary" if outcome.dry_run else f"Billing run #{run.pk} {run.get_status_display().lower()}"
        verb = "would bill" if outcome.dry_run else "billed"
        self.stdout.write(self.style.SUCCESS(f"{title} for {month_label(run.month)}:"))
        self.stdout.write(f"  meters considered: {run.meters}")
        self.stdout.write(f"  {verb}: {run.billed}")
        self.stdout.write(f"  held for review: {run.held}")
        self.stdout.write(f"  estimated (of those billed or held): {run.estimated}")
        self.stdout.write(f"  already billed: {run.already_billed}")
        awaiting = run.skipped_detail.get(AWAITING_CLOSING_READ, [])
        self.stdout.write(
            f"  awaiting closing read: {run.awaiting}" + (f" ({', '.join(awaiting)})" if awaiting else "")
        )
        self.stdout.write(f"  skipped: {run.skipped}")
        for reason, meters in run.skipped_detail.items():
            if reason != AWAITING_CLOSING_READ:
                self.stdout.write(f"    {reason}: {', '.join(meters)}")
        failed = [f for f in run.failures if f.get("stage") != "email"]
        self.stdout.write(f"  failed: {run.failed}")
        for failure in failed:
            self.stdout.write(self.style.ERROR(f"    {failure['device_id']}: {failure['error']}"))
        if not outcome.dry_run:
            self.stdout.write(f"  emails sent: {run.emails_sent}")
            unsent = [f for f in run.failures if f.get("stage") == "email"]
            if unsent:
                self.stdout.write(self.style.WARNING(f"  emails not sent (retried by the next run): {len(unsent)}"))
                for failure in unsent:
                    self.stdout.write(f"    {failure['device_id']}: {failure['error']}")
