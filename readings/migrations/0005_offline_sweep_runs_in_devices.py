"""The offline sweep's schedule calls the task where meter liveness now lives, devices.tasks.

Written out here, like 0002: a migration imports no application code.
"""

from django.db import migrations

OLD_NAME, OLD_FUNC = "readings: mark silent meters offline", "readings.tasks.mark_silent_meters_offline"
NEW_NAME, NEW_FUNC = "devices: mark silent meters offline", "devices.tasks.mark_silent_meters_offline"


def move_to_devices(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=OLD_NAME).update(name=NEW_NAME, func=NEW_FUNC)


def move_back(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NEW_NAME).update(name=OLD_NAME, func=OLD_FUNC)


class Migration(migrations.Migration):
    dependencies = [
        ("readings", "0004_untimed_delivery"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(move_to_devices, move_back)]
