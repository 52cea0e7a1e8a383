"""python manage.py seed_demo: a demo staff account, a demo customer, a few meters (one per off-the-shelf
device format besides the product's own) and a tariff, and the last complete month's readings, bills and
a part payment for the product's own meters (idempotent: a second run creates nothing).

Passwords are generated on first run and written to var/demo-logins.txt
(never to the repository); later runs print the same logins again.
"""

import secrets
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_register
from billing.models import Invoice, Tariff
from billing.services import tariff_create
from devices.identity import DSMR_READER, NATIVE, SHELLY_GEN2, TASMOTA
from devices.models import Device
from devices.services import device_assign, device_claim, device_provision
from devtools.demo_month import demo_month_bill

# The seed's domestic tariff, in force from 2020 so any month with demo readings can be billed.
DEMO_TARIFF = {
    "slabs": [
        {"range_start": 0, "range_end": 100, "rate": "3.50"},
        {"range_start": 101, "range_end": 300, "rate": "4.50"},
        {"range_start": 301, "range_end": None, "rate": "6.00"},
    ],
    "fixed_charge": "50.00",
    "tax_rate": "0.18",
    "effective_from": date(2020, 1, 1),
    "description": "Domestic (demo)",
}

DEMO_METERS = [  # device id, name, location, manufacturer serial, sanctioned load (kW)
    ("demo-meter-1", "Home", "Flat 4B, Indiranagar, Bengaluru", "DEMO-SN-0001", "5.00"),
    ("demo-meter-2", "Shop", "12 MG Road, Bengaluru", "DEMO-SN-0002", "10.00"),
    ("demo-meter-3", "Farm pump", "Survey 88, Hoskote", "DEMO-SN-0003", "7.50"),
]

# Off-the-shelf monitors, one per device format; the simulator publishes each in its own format.
# Provisioned now, they have no readings in the billed demo month (the billing run skips them).
DEMO_FORMAT_METERS = [  # device id, name, location, manufacturer serial, sanctioned load (kW), payload format
    ("demo-tasmota-1", "Garage (Tasmota plug)", "Flat 4B, Indiranagar, Bengaluru", "DEMO-SN-0101", "3.00", TASMOTA),
    ("demo-shelly-1", "Workshop (Shelly Pro 3EM)", "12 MG Road, Bengaluru", "DEMO-SN-0102", "15.00", SHELLY_GEN2),
    ("demo-dsmr-1", "Cottage (P1 reader)", "Survey 88, Hoskote", "DEMO-SN-0103", "5.00", DSMR_READER),
]


class Command(BaseCommand):
    help = "Create demo staff and customer accounts with a few meters; prints their logins."

    def handle(self, *args, **options):
        logins_file = Path(settings.VAR_DIR) / "demo-logins.txt"
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        with transaction.atomic():
            staff, staff_password = self._user("staff@smartmeter.example", "Utility Staff", is_staff=True)
            customer, customer_password = self._user("customer@smartmeter.example", "Asha Rao", is_staff=False)
            for device_id, name, location, serial, load_kw in DEMO_METERS:
                self._meter(device_id, name, location, serial, Decimal(load_kw), customer=customer, staff=staff)
            for device_id, name, location, serial, load_kw, payload_format in DEMO_FORMAT_METERS:
                self._meter(
                    device_id,
                    name,
                    location,
                    serial,
                    Decimal(load_kw),
                    customer=customer,
                    staff=staff,
                    payload_format=payload_format,
                )
            if not Tariff.objects.exists():
                tariff_create(**DEMO_TARIFF, actor=staff)
        # Outside the transaction above: the run commits (and emails) each bill as it issues it.
        month = demo_month_bill(customer=customer, device_ids=[meter[0] for meter in DEMO_METERS], staff=staff)
        if staff_password or customer_password:
            logins_file.write_text(
                f"staff    {staff.email} {staff_password or '(unchanged)'}\n"
                f"customer {customer.email} {customer_password or '(unchanged)'}\n"
            )
        bills = Invoice.objects.filter(device__owner=customer, month=month).count()
        self.stdout.write(f"Demo bills for {month:%Y-%m}: {bills} (and a part payment on the customer's account).")
        self.stdout.write(self.style.SUCCESS("Demo logins (also in var/demo-logins.txt):"))
        self.stdout.write(logins_file.read_text() if logins_file.exists() else "(logins file missing)\n")

    def _meter(self, device_id, name, location, serial, load_kw, *, customer, staff, payload_format=NATIVE):
        """Provision the meter as staff would and claim it as the customer would, through the services."""
        device = Device.objects.filter(device_id=device_id).first()
        if device is None:
            provisioned = device_provision(
                device_id=device_id,
                serial=serial,
                sanctioned_load_kw=load_kw,
                location=location,
                name=name,
                payload_format=payload_format,
                actor=staff,
            )
            device_claim(device_id=device_id, claim_code=provisioned.claim_code, user=customer)
        elif device.owner_id is None and not device.is_decommissioned:
            device_assign(device=device, owner=customer, actor=staff)  # left unclaimed by an older seed

    def _user(self, email, name, *, is_staff):
        user = User.objects.filter(email=email).first()
        if user is not None:
            return user, None
        password = secrets.token_urlsafe(12)
        user = user_register(email=email, password=password, name=name, is_staff=is_staff, is_superuser=is_staff)
        return user, password
