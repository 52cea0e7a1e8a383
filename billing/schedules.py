"""The billing jobs django-q2 runs on a clock, created by a migration (so every install has them).

Cron expressions are read in the billing time zone: settings sets Q_CLUSTER's
``time_zone`` to BILLING_TIME_ZONE, and the first run computed here uses it too.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

SCHEDULES = [
    {
        "name": "billing: monthly run",
        "func": "billing.tasks.run_monthly_billing",
        "cron": "5 0 1 * *",  # 00:05 on the 1st: bill the month that just ended
    },
    {
        "name": "billing: mark overdue invoices",
        "func": "billing.tasks.mark_overdue_invoices",
        "cron": "30 0 * * *",  # daily at 00:30
    },
]


def next_run_after(cron: str, now: datetime, tz: ZoneInfo) -> datetime:
    return croniter(cron, now.astimezone(tz)).get_next(datetime)


def ensure_schedules(schedule_model, *, now: datetime, tz: ZoneInfo) -> None:
    """Create the schedules, or bring existing ones back to the shipped func and cron (idempotent)."""
    for spec in SCHEDULES:
        schedule = schedule_model.objects.filter(name=spec["name"]).first()
        if schedule is None:
            schedule = schedule_model(name=spec["name"])
        if schedule.func == spec["func"] and schedule.cron == spec["cron"] and schedule.schedule_type == "C":
            continue
        schedule.func = spec["func"]
        schedule.schedule_type = "C"  # Schedule.CRON
        schedule.cron = spec["cron"]
        schedule.repeats = -1
        schedule.next_run = next_run_after(spec["cron"], now, tz)
        schedule.save()
