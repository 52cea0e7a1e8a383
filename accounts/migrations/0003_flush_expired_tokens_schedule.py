"""Create the django-q2 schedule that deletes expired API tokens from simplejwt's outstanding
and blacklist tables every night (docs/operations.md#api-tokens).

The data is written out here, importing no application module, so this migration keeps
working whatever later happens to the code.
"""

from django.db import migrations
from django.utils import timezone

SCHEDULE_NAME = "accounts: flush expired API tokens"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "django.core.management.call_command",
            "args": "'flushexpiredtokens'",
            "schedule_type": "C",  # Schedule.CRON
            "cron": "15 3 * * *",  # daily at 03:15 (Q_CLUSTER time_zone); first run at the next check
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_token_generation_and_email_preference"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
