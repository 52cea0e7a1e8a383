"""Billing runs: what each run did, for staff and for the next run's operator."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.months import month_label


class BillingRun(models.Model):
    """What one billing run did, for staff and for the next run's operator."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Back office"

    month = models.DateField(db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.COMMAND)
    device_id = models.CharField(max_length=64, blank=True, help_text="Set when the run was limited to one meter.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    meters = models.PositiveIntegerField(default=0, help_text="Meters considered.")
    billed = models.PositiveIntegerField(default=0, help_text="Invoices issued by this run.")
    already_billed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0, help_text="Bills held for review by this run.")
    estimated = models.PositiveIntegerField(default=0, help_text="Bills estimated by this run.")
    awaiting = models.PositiveIntegerField(default=0, help_text="Meters still awaiting their closing read.")
    failed = models.PositiveIntegerField(default=0)
    emails_sent = models.PositiveIntegerField(default=0)
    skipped_detail = models.JSONField(default=dict, blank=True, help_text="Reason -> meters skipped for it.")
    failures = models.JSONField(default=list, blank=True, help_text="[{device_id, error}]")
    host = models.CharField(max_length=255, blank=True, help_text="Machine the run's process ran on.")
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="Process id of the run on that machine.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The member of staff who started it from the back office.",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Billing run {month_label(self.month)} ({self.get_status_display()}, {self.started_at:%Y-%m-%d %H:%M})"

    @property
    def meters_done(self) -> int:
        """Meters dealt with so far: each lands in exactly one of these counts (estimates are among them)."""
        done = self.billed + self.held + self.already_billed + self.awaiting + self.skipped + self.failed
        return min(done, self.meters) if self.meters else done

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING
