"""python manage.py mqtt_issue_credentials [--device ID ...] [--dry-run]: broker logins for meters that have none.

For meters provisioned before broker administration (MQTT_ADMIN_URL) was set, or whose login
was lost: each active meter without an account gets one, and the passwords are printed once,
as CSV on standard output, to load into the meters. docs/deployment.md#mqtt-credentials.
"""

import csv

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.models import Device
from readings.meter_credentials import (
    MeterCredentialsError,
    meter_accounts_existing,
    meter_credentials_issue,
    meter_username,
)


class Command(BaseCommand):
    help = "Create broker logins for active meters that have none; prints device_id,username,password as CSV once."

    def add_arguments(self, parser):
        parser.add_argument("--device", action="append", default=[], help="Only this meter (repeatable).")
        parser.add_argument("--dry-run", action="store_true", help="List the meters that would get a login.")

    def handle(self, *args, device: list[str], dry_run: bool = False, **options):
        if not settings.MQTT_ADMIN_URL:
            raise CommandError("MQTT_ADMIN_URL is not set: the broker has no accounts to create")
        meters = Device.objects.active().order_by("device_id")
        if device:
            meters = meters.filter(device_id__in=device)
            unknown = sorted(set(device) - set(meters.values_list("device_id", flat=True)))
            if unknown:
                raise CommandError(f"no active meter {', '.join(unknown)}")
        try:
            existing = meter_accounts_existing()
        except MeterCredentialsError as exc:
            raise CommandError(str(exc)) from exc
        missing = [meter for meter in meters if meter.device_id not in existing]
        if dry_run:
            for meter in missing:
                self.stdout.write(f"would create a broker login for {meter.device_id}")
            self.stderr.write(f"{len(missing)} meter(s) without a broker login")
            return
        writer = csv.writer(self.stdout)
        writer.writerow(["device_id", "username", "password"])
        for meter in missing:
            try:
                secret = meter_credentials_issue(device=meter)
            except MeterCredentialsError as exc:
                raise CommandError(f"{exc} (logins printed above were created)") from exc
            writer.writerow([meter.device_id, meter_username(meter.device_id), secret.value])
        self.stderr.write(f"created {len(missing)} broker login(s); the passwords above are not shown again")
