"""Create the django-q2 schedules for the monthly billing run and the daily overdue check.

The schedules are written out here, as they were when this migration was made: a
migration never imports live application code, so later edits to the app cannot
change what it does. A change to a schedule belongs in a new migration.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import migrations
from django.utils import timezone

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


def create_schedules(apps, schema_editor):
    """Create the schedules, or bring existing ones back to these funcs and crons.

    Crons are read in the billing time zone (settings set Q_CLUSTER's time_zone to
    it); the first run is computed in that zone too.
    """
    Schedule = apps.get_model("django_q", "Schedule")
    now = timezone.now().astimezone(ZoneInfo(settings.BILLING_TIME_ZONE))
    for spec in SCHEDULES:
        schedule = Schedule.objects.filter(name=spec["name"]).first() or Schedule(name=spec["name"])
        if schedule.func == spec["func"] and schedule.cron == spec["cron"] and schedule.schedule_type == "C":
            continue
        schedule.func = spec["func"]
        schedule.schedule_type = "C"  # Schedule.CRON
        schedule.cron = spec["cron"]
        schedule.repeats = -1
        schedule.next_run = croniter(spec["cron"], now).get_next(datetime)
        schedule.save()


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
