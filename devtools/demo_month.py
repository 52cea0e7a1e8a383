"""The demo's billed month: plausible readings for the last complete month, its bills, and a part
payment, so a fresh demo shows invoices, a receipt and a statement at once.

Everything goes through the owning apps' services: readings through ingestion (as if the meters had
published them), bills through the billing run, the payment through the receivables ledger.
Each step is skipped when its result already exists, so seeding twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from accounts.models import User
from billing.models import BillingRun, Invoice, Payment
from billing.months import last_complete_month, month_bounds
from billing.selectors import billing_today
from billing.services import billing_run
from billing.services.ledger import account_for_customer
from billing.services.payments import payment_record
from billing.zone import billing_zone
from devices.identity import telemetry_topic
from devtools.simulation import SimulatedMeter, backfill_instants
from readings.ingestion.batch import readings_ingest_batch
from readings.ingestion.messages import TelemetryMessage
from readings.stores import get_store

READING_STEP = timedelta(minutes=15)
BATCH = 2_000  # messages per ingestion batch
SEED = 2024  # the demo's telemetry is the same on every machine


def demo_month_bill(*, customer: User, device_ids: Iterable[str], staff: User, now: datetime | None = None) -> date:
    """Give the demo customer the last complete month's readings, bills and a part payment (each once)."""
    now = now or timezone.now()
    month = last_complete_month(now, billing_zone())
    if not Invoice.objects.filter(device__owner=customer).exists():
        demo_readings_write(device_ids=list(device_ids), month=month, now=now)
        billing_run(month=month, trigger=BillingRun.Trigger.COMMAND, actor=staff, now=now)
    demo_payment_record(customer=customer, month=month, staff=staff)
    return month


def demo_readings_write(*, device_ids: list[str], month: date, now: datetime) -> int:
    """Readings every 15 minutes from the month's first instant to its last (inclusive), continuing
    each meter's register from what is stored; a meter already heard from after the month is left alone."""
    zone = billing_zone()
    start, end = month_bounds(month, zone)
    latest = get_store().latest_many(device_ids)
    messages: list[TelemetryMessage] = []
    for device_id in device_ids:
        meter = SimulatedMeter.create(device_id, seed=SEED)
        first = start
        if device_id in latest:
            if latest[device_id].timestamp >= end:
                continue
            meter.register_kwh, meter.last_at = float(latest[device_id].energy_kwh), latest[device_id].timestamp
            first = max(start, latest[device_id].timestamp + READING_STEP)
        topic = telemetry_topic(device_id)
        messages.extend(
            TelemetryMessage(topic=topic, payload=meter.payload_at(when, zone), received_at=now)
            for when in backfill_instants(start=first, end=end + READING_STEP, step=READING_STEP)
        )
    backfill = now - start + timedelta(days=1)  # older than ingestion normally accepts from a live meter
    stored = 0
    for offset in range(0, len(messages), BATCH):
        stored += readings_ingest_batch(messages=messages[offset : offset + BATCH], backfill=backfill).stored
    return stored


def demo_payment_record(*, customer: User, month: date, staff: User) -> Payment | None:
    """About half the customer's first issued invoice, by UPI, unless the account has a payment already."""
    account = account_for_customer(customer=customer)
    if Payment.objects.filter(account=account).exists():
        return None
    invoice = (
        Invoice.objects.filter(device__owner=customer)
        .exclude(status=Invoice.Status.HELD)
        .order_by("month", "number")
        .first()
    )
    if invoice is None:
        return None
    amount = (invoice.total / 2).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return payment_record(
        account=account,
        amount=amount,
        method=Payment.Method.UPI,
        received_on=billing_today(),
        reference=f"DEMO-UPI-{month:%Y%m}",
        actor=staff,
    )
