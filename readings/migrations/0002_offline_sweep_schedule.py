"""Create the django-q2 schedule that marks silent meters offline every minute.

The schedule is written out here, as it was when this migration was made: a
migration never imports live application code, so later edits to the app cannot
change what it does. A change to the schedule belongs in a new migration.
"""

from django.db import migrations
from django.utils import timezone

NAME = "readings: mark silent meters offline"
FUNC = "readings.tasks.mark_silent_meters_offline"
MINUTES = 1


def create_schedules(apps, schema_editor):
    """Create the schedule, or bring an existing one back to this func and interval."""
    Schedule = apps.get_model("django_q", "Schedule")
    schedule = Schedule.objects.filter(name=NAME).first()
    if schedule is None:
        schedule = Schedule(name=NAME, next_run=timezone.now())
    elif schedule.func == FUNC and schedule.schedule_type == "I" and schedule.minutes == MINUTES:
        return
    schedule.func = FUNC
    schedule.schedule_type = "I"  # Schedule.MINUTES: every `minutes` minutes
    schedule.minutes = MINUTES
    schedule.repeats = -1
    schedule.save()


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("readings", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
