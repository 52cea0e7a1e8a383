"""Open an account for every customer billed so far and post their invoices to the ledger.

Invoices issued before keep their numbers (INV-yyyymm-<meter key>); new ones take numbers from the
gapless series. An invoice marked paid before payments were itemised gets a payment for its total
on its paid date (method "cash", reference "Marked paid before itemised payments"), with a receipt
number from the RCT series of that financial year. Written out in full: migrations never import
application modules (docs/billing.md#moving-to-the-ledger).
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations


def _luhn(digits):
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def _consumer_number(key):
    body = f"1{key:08d}"
    return body + _luhn(body)


def _financial_year(day):
    return day.year if day.month >= 4 else day.year - 1


def open_accounts(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    Account = apps.get_model("billing", "Account")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Payment = apps.get_model("billing", "Payment")
    Allocation = apps.get_model("billing", "Allocation")
    DocumentSequence = apps.get_model("billing", "DocumentSequence")
    Device = apps.get_model("devices", "Device")
    zone = ZoneInfo(getattr(settings, "BILLING_TIME_ZONE", settings.TIME_ZONE))

    accounts = {}
    for invoice in Invoice.objects.order_by("created_at", "pk").iterator():
        account = accounts.get(invoice.customer_id)
        if account is None:
            account, _ = Account.objects.get_or_create(
                customer_id=invoice.customer_id, defaults={"consumer_number": _consumer_number(invoice.customer_id)}
            )
            accounts[invoice.customer_id] = account
        invoice.account_id = account.pk
        invoice.consumer_number = account.consumer_number
        invoice.save(update_fields=["account", "consumer_number"])
        if invoice.status == "held":
            continue
        device_id = Device.objects.filter(pk=invoice.device_id).values_list("device_id", flat=True).first()
        charge = LedgerEntry.objects.create(
            account=account,
            kind="invoice",
            amount=invoice.total,
            posted_on=invoice.created_at.astimezone(zone).date(),
            posted_at=invoice.created_at,
            document_number=invoice.number,
            description=f"Electricity bill {invoice.month:%Y-%m}, meter {device_id}",
            invoice=invoice,
        )
        if invoice.status != "paid" or invoice.total <= 0:
            continue
        paid_on = invoice.paid_date or invoice.created_at.astimezone(zone).date()
        year = _financial_year(paid_on)
        sequence, _ = DocumentSequence.objects.get_or_create(series="RCT", financial_year=year)
        sequence.last_number += 1
        sequence.save(update_fields=["last_number"])
        payment = Payment.objects.create(
            number=f"RCT-{year % 100:02d}{(year + 1) % 100:02d}-{sequence.last_number:07d}",
            account=account,
            amount=invoice.total,
            method="cash",
            reference="Marked paid before itemised payments",
            received_on=paid_on,
        )
        credit = LedgerEntry.objects.create(
            account=account,
            kind="payment",
            amount=-invoice.total,
            posted_on=paid_on,
            document_number=payment.number,
            description=f"Payment for {invoice.number} (marked paid)",
            payment=payment,
        )
        Allocation.objects.create(credit=credit, charge=charge, amount=invoice.total)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_receivables"),
        ("devices", "0004_meter_exchange"),
    ]

    operations = [migrations.RunPython(open_accounts, migrations.RunPython.noop)]
