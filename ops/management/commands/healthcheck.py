"""Exit 0 when this part of the system is healthy, 1 otherwise: for container
health checks and scripts (`python manage.py healthcheck [--service NAME] [--database]`).

Without options it runs the same checks as GET /health.
"""

from django.core.management.base import BaseCommand, CommandError

from ops.health import consumer_connected, database_ok, health_report


class Command(BaseCommand):
    help = "Check health (all of /health, or only the database / a service heartbeat); exit 1 when unhealthy."

    def add_arguments(self, parser):
        parser.add_argument("--database", action="store_true", help="Only check that the database answers.")
        parser.add_argument(
            "--service",
            choices=["mqtt_consumer"],
            help="Only check that this long-running service reported itself connected recently.",
        )

    def handle(self, *args, **options):
        if options["database"] or options["service"]:
            checks = {}
            if options["database"]:
                checks["database"] = database_ok()
            if options["service"]:
                checks[options["service"]] = database_ok() and consumer_connected()
        else:
            report = health_report().as_dict()
            checks = {
                "database": report["db_connected"],
                "readings_store": report["readings_store"]["connected"],
                "mqtt_consumer": report["mqtt_connected"],
            }
        for name, ok in checks.items():
            self.stdout.write(f"{name}: {'ok' if ok else 'FAILING'}")
        if not all(checks.values()):
            raise CommandError("unhealthy: " + ", ".join(name for name, ok in checks.items() if not ok))
