"""The monthly billing run is scheduled hourly: it bills meters as their closing reads arrive.

The task itself decides whether a run is due (hourly on the month's first day, then daily
until the closing-read grace period is over), so the schedule only has to wake it.
Written out here, as migrations never import live application code.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import migrations
from django.utils import timezone

NAME = "billing: monthly run"
FUNC = "billing.tasks.run_monthly_billing"


def set_cron(cron):
    def apply(apps, schema_editor):
        Schedule = apps.get_model("django_q", "Schedule")
        now = timezone.now().astimezone(ZoneInfo(settings.BILLING_TIME_ZONE))
        schedule = Schedule.objects.filter(name=NAME).first() or Schedule(name=NAME)
        schedule.func = FUNC
        schedule.schedule_type = "C"  # Schedule.CRON
        schedule.cron = cron
        schedule.repeats = -1
        schedule.next_run = croniter(cron, now).get_next(datetime)
        schedule.save()

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_closing_reads_estimates_review"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(set_cron("5 * * * *"), set_cron("5 0 1 * *"))]
