"""Data for the browser tests, written into the live server's own database.

Run as ``python -m tests.dashboard.e2e_seed <device_id>`` with the server's
environment (DATABASE_URL etc.); prints the logins and ids as JSON. Users, meters and
the tariff come from the test factories (tests/factories/, which use the models' managers
and billing's tariff service), readings go through the readings store, and the invoice
comes from a real billing run (so the PDF is the one customers get).
"""

import json
import math
import sys
from datetime import UTC, datetime, timedelta


def _readings(device_id: str, *, now: datetime):
    """Hourly readings for 13 months, then one a minute for the last 2 hours: a daily load curve."""
    from readings.types import Reading

    register = 1000.0
    start = (now - timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
    moment = start
    dense_from = now - timedelta(hours=2)
    while moment < now - timedelta(minutes=1):
        step = timedelta(minutes=1) if moment >= dense_from else timedelta(hours=1)
        local_hour = (moment.hour + 5.5) % 24  # shape the curve on the customer's (IST) day
        evening = math.exp(-((local_hour - 20) ** 2) / 6)
        morning = math.exp(-((local_hour - 8) ** 2) / 4)
        power_w = 250 + 1800 * evening + 900 * morning + 120 * math.sin(moment.timestamp() / 977)
        register += power_w * step.total_seconds() / 3_600_000
        yield Reading(
            device_id=device_id,
            timestamp=moment,
            voltage=229.0 + 4 * math.sin(moment.timestamp() / 5003),
            current=round(power_w / 230, 3),
            power_w=round(power_w, 1),
            energy_kwh=round(register, 3),
            power_factor=round(0.93 + 0.04 * math.sin(moment.timestamp() / 7001), 3),
            rssi=-61,
        )
        moment += step


def seed(device_id: str) -> dict:
    from billing.models import Invoice
    from billing.months import month_containing
    from billing.services.runs import billing_run
    from billing.zone import billing_zone
    from devices.models import Device
    from readings.stores import get_store
    from tests.factories import (
        CLAIM_CODE,
        DEFAULT_PASSWORD,
        DeviceFactory,
        InvoiceFactory,
        TariffFactory,
        UnclaimedDeviceFactory,
        UserFactory,
    )

    now = datetime.now(UTC)
    customer = UserFactory(email="asha@example.com", name="Asha Rao")
    other = UserFactory(email="ravi@example.com", name="Ravi Kumar")
    staff = UserFactory(email="staff@example.com", name="Staff", is_staff=True, is_superuser=True)
    device = DeviceFactory(
        device_id=device_id,
        owner=customer,
        name="Home",
        location="Flat 4B, Indiranagar, Bengaluru",
        wifi_ssid="asha-home",
        status=Device.Status.ONLINE,
        last_seen=now,
    )
    pump = DeviceFactory(
        device_id=f"{device_id}-pump", owner=customer, name="Farm pump", location="Hoskote", wifi_ssid="farm"
    )
    DeviceFactory(device_id=f"{device_id}-ravi", owner=other, name="Ravi's flat")
    unclaimed = UnclaimedDeviceFactory(device_id=f"{device_id}-new", name="", location="Koramangala")

    store = get_store()
    batch = list(_readings(device_id, now=now))
    for index in range(0, len(batch), 2000):
        store.write_many(batch[index : index + 2000])

    TariffFactory()  # the seed's tariff, in force since 2020
    this_month = month_containing(now, billing_zone())
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    billing_run(month=last_month, device_id=device_id)
    invoice = Invoice.objects.get(device=device, month=last_month)
    # The pump's bills: last month's estimated, correcting an earlier estimate; the month before held for review.
    estimated = InvoiceFactory(device=pump, month=last_month, energy_kwh="60", estimate=True, adjusted=True)
    held = InvoiceFactory(device=pump, month=(last_month - timedelta(days=1)).replace(day=1), held=True)
    return {
        "password": DEFAULT_PASSWORD,
        "customer": customer.email,
        "other": other.email,
        "staff": staff.email,
        "device_id": device_id,
        "device_pk": device.pk,
        "invoice": invoice.number,
        "invoice_total": str(invoice.total),
        "estimated_invoice": estimated.number,
        "held_invoice": held.number,
        "held_invoice_pk": held.pk,
        "readings": len(batch),
        "unclaimed_device_id": unclaimed.device_id,
        "claim_code": CLAIM_CODE,
    }


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(seed(sys.argv[1])))
