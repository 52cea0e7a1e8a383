"""python manage.py seed_demo provisions the demo meters and claims them for the demo customer
through the services, bills the last complete month with a part payment on the account, and running
it again changes nothing."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from billing.models import BillingRun, Invoice, LedgerEntry, Payment
from billing.months import last_complete_month, month_bounds
from billing.receivables import account_balance
from billing.services.ledger import account_for_customer
from billing.zone import billing_zone
from devices.models import Device
from readings.stores import get_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_files(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seeding_provisions_and_claims_the_demo_meters_once():
    seed()
    seed()

    meters = Device.objects.select_related("owner").order_by("device_id")
    assert [(meter.device_id, meter.payload_format) for meter in meters] == [
        ("demo-dsmr-1", "dsmr-reader"),
        ("demo-meter-1", "native"),
        ("demo-meter-2", "native"),
        ("demo-meter-3", "native"),
        ("demo-shelly-1", "shelly-gen2"),
        ("demo-tasmota-1", "tasmota"),
    ]
    assert {meter.owner.email for meter in meters} == {"customer@smartmeter.example"}
    assert all(meter.claimed_at and meter.claim_code_hash == "" and meter.serial for meter in meters)
    assert str(meters[2].sanctioned_load_kw) == "10.00"


@pytest.mark.django_db(transaction=True)
def test_seeding_bills_the_last_complete_month_and_records_a_part_payment_once():
    output = seed()

    customer = User.objects.get(email="customer@smartmeter.example")
    month = last_complete_month(timezone.now(), billing_zone())
    invoices = list(Invoice.objects.filter(device__owner=customer).order_by("number"))
    assert [(invoice.device.device_id, invoice.month) for invoice in invoices] == [
        (f"demo-meter-{n}", month) for n in (1, 2, 3)
    ]
    assert all(invoice.status == Invoice.Status.ISSUED and invoice.pdf for invoice in invoices)
    assert all(not invoice.estimated and invoice.energy_kwh > 0 for invoice in invoices)
    run = BillingRun.objects.get()
    assert (run.trigger, run.billed, run.failed) == ("command", 3, 0)
    assert f"Demo bills for {month:%Y-%m}: 3" in output

    payment = Payment.objects.get()
    half = (invoices[0].total / 2).quantize(Decimal("1"))
    assert (payment.method, payment.amount, payment.reference) == ("upi", half, f"DEMO-UPI-{month:%Y%m}")
    account = account_for_customer(customer=customer)
    billed = sum(invoice.total for invoice in invoices)
    assert account_balance(account=account) == billed - payment.amount
    assert Decimal(0) < account_balance(account=account) < billed

    # Readings every 15 minutes, the month's first instant to its last, as stored evidence.
    start, end = month_bounds(month, billing_zone())
    series = get_store().series("demo-meter-1", start=start, end=end, agg="raw", tz=billing_zone())
    assert len(series) == (end - start).days * 96

    before = {
        "readings": get_store().latest_many(["demo-meter-1"])["demo-meter-1"].timestamp,
        "invoices": Invoice.objects.count(),
        "payments": Payment.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "runs": BillingRun.objects.count(),
    }
    seed()
    assert {
        "readings": get_store().latest_many(["demo-meter-1"])["demo-meter-1"].timestamp,
        "invoices": Invoice.objects.count(),
        "payments": Payment.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "runs": BillingRun.objects.count(),
    } == before
