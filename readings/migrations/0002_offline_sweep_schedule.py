"""Create the django-q2 schedule that marks silent meters offline every minute."""

from django.db import migrations
from django.utils import timezone


def create_schedules(apps, schema_editor):
    from readings.schedules import ensure_schedules

    ensure_schedules(apps.get_model("django_q", "Schedule"), now=timezone.now())


def remove_schedules(apps, schema_editor):
    from readings.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("readings", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
