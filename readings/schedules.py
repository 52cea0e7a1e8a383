"""The ingestion jobs django-q2 runs on a clock, created by a migration (so every install has them)."""

from datetime import datetime

SCHEDULES = [
    {
        "name": "readings: mark silent meters offline",
        "func": "readings.tasks.mark_silent_meters_offline",
        "minutes": 1,
    },
]


def ensure_schedules(schedule_model, *, now: datetime) -> None:
    """Create the schedules, or bring existing ones back to the shipped func and interval (idempotent)."""
    for spec in SCHEDULES:
        schedule = schedule_model.objects.filter(name=spec["name"]).first()
        if schedule is None:
            schedule = schedule_model(name=spec["name"], next_run=now)
        elif schedule.func == spec["func"] and schedule.schedule_type == "I" and schedule.minutes == spec["minutes"]:
            continue
        schedule.func = spec["func"]
        schedule.schedule_type = "I"  # Schedule.MINUTES: every `minutes` minutes
        schedule.minutes = spec["minutes"]
        schedule.repeats = -1
        schedule.save()
