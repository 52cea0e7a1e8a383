"""Tariffs and invoices are made by billing's own services, so that they are valid as the
product makes them (contiguous slabs; an invoice's snapshot, number and PDF); billing runs
are plain rows."""

from datetime import date
from decimal import Decimal

import factory
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from factory.django import DjangoModelFactory

from billing.models import BillingRun, DocumentSequence, Invoice, LedgerEntry, Tariff
from billing.numbering import document_number, financial_year
from billing.pdf import render_invoice_pdf
from billing.selectors import tariff_for_month
from billing.services.invoices import held_invoice_number, invoice_issue, invoice_mark_paid
from billing.services.ledger import account_lock, ledger_allocate
from billing.services.tariffs import tariff_create
from tests.factories.devices import DeviceFactory
from tests.support.readings import consumption

# The seed's tariff: 0-100 kWh @3.50, 101-300 @4.50, 301+ @6.00, fixed 50, tax 18%.
SEED_SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]


class TariffFactory(DjangoModelFactory):
    """A tariff version, by default the seed's, in force since 2020."""

    slabs = factory.LazyFunction(lambda: [dict(slab) for slab in SEED_SLABS])
    fixed_charge = "50.00"
    tax_rate = "0.18"
    effective_from = date(2020, 1, 1)

    class Meta:
        model = Tariff

    @classmethod
    def _create(cls, model_class, **kwargs):
        return tariff_create(**kwargs)


def _tariff_billing(invoice) -> Tariff:
    return tariff_for_month(month=invoice.month) or TariffFactory()


# What invoice_issue takes; every other field given to InvoiceFactory is set on the issued row.
ISSUE_ARGUMENTS = {"device", "month", "consumption", "tariff", "terms", "run", "actor"}


AMOUNTS = ("subtotal", "fixed_charge", "minimum_top_up", "tax", "adjustment_amount", "credit_applied")


def _settle(invoice, given: set[str]) -> None:
    """Total and credit carried as the product computes them, unless the test gave them."""
    if "total" in given:
        return
    amount = {name: Decimal(str(getattr(invoice, name))) for name in AMOUNTS}
    for name, value in amount.items():
        setattr(invoice, name, value)
    gross = amount["subtotal"] + amount["fixed_charge"] + amount["minimum_top_up"] + amount["tax"]
    gross += amount["adjustment_amount"]
    gross -= amount["credit_applied"]
    invoice.total = max(gross, Decimal("0.00"))
    if "credit_carried" not in given:
        invoice.credit_carried = max(-gross, Decimal("0.00"))


class InvoiceFactory(DjangoModelFactory):
    """An issued invoice (PDF included; its email goes out on commit), by default for 250 kWh
    in January 2025 under the tariff that bills that month (the seed's if there is none).

    Other Invoice fields (estimated, adjustment_detail, parts, status...) are set on the row
    after issue and the PDF is rendered again from it; the total follows from the adjustment
    and credit unless given. Traits: ``estimate``, ``adjusted``, ``credited``, ``held``,
    ``split`` and ``prorated``.
    """

    device = factory.SubFactory(DeviceFactory)
    month = date(2025, 1, 1)
    consumption = factory.LazyAttribute(
        lambda invoice: consumption(
            invoice.device.device_id, invoice.energy_kwh, month=invoice.month, readings=invoice.reading_count
        )
    )
    tariff = factory.LazyAttribute(_tariff_billing)

    class Params:
        energy_kwh = "250"
        reading_count = 2976
        estimate = factory.Trait(estimated=True, estimate_basis="trailing_90_days")
        # February 2025's bill correcting January, estimated at 120 kWh, read at 104 kWh.
        adjusted = factory.Trait(
            adjustment_kwh=Decimal("-16.000"),
            adjustment_amount=Decimal("-80.50"),
            adjustment_detail=[
                {
                    "month": "2025-01",
                    "estimated_kwh": "120.000",
                    "actual_kwh": "104.000",
                    "kwh": "-16.000",
                    "amount": "-80.50",
                }
            ],
        )
        credited = factory.Trait(credit_applied=Decimal("100.00"))
        held = factory.Trait(
            status=Invoice.Status.HELD,
            held_reasons=["Energy 900.000 kWh is more than 3 times the trailing average."],
        )
        prorated = factory.Trait(service_days=12)
        # January 2025 split on the 15th by a new tariff version: 14 days then 17 days, 100 + 150 kWh.
        split = factory.Trait(
            parts=[
                {
                    "from": "2025-01-01T00:00:00+05:30",
                    "until": "2025-01-15T00:00:00+05:30",
                    "days": 14,
                    "share": "0.4516",
                    "tariff_id": None,
                    "effective_from": "2020-01-01",
                    "energy_kwh": "100.000",
                    "slabs": [
                        {
                            "slab": "0-100",
                            "range_start": 0,
                            "range_end": 100,
                            "units": "45.161",
                            "rate": "3.50",
                            "charge": "158.06",
                        },
                        {
                            "slab": "101-300",
                            "range_start": 101,
                            "range_end": 300,
                            "units": "54.839",
                            "rate": "4.50",
                            "charge": "246.78",
                        },
                    ],
                    "subtotal": "404.84",
                    "fixed_charge": "22.58",
                },
                {
                    "from": "2025-01-15T00:00:00+05:30",
                    "until": "2025-02-01T00:00:00+05:30",
                    "days": 17,
                    "share": "0.5484",
                    "tariff_id": None,
                    "effective_from": "2025-01-15",
                    "energy_kwh": "150.000",
                    "slabs": [
                        {
                            "slab": "0-100",
                            "range_start": 0,
                            "range_end": 100,
                            "units": "54.839",
                            "rate": "4.00",
                            "charge": "219.36",
                        },
                        {
                            "slab": "101-300",
                            "range_start": 101,
                            "range_end": 300,
                            "units": "95.161",
                            "rate": "5.00",
                            "charge": "475.81",
                        },
                    ],
                    "subtotal": "695.17",
                    "fixed_charge": "27.42",
                },
            ],
            subtotal=Decimal("1100.01"),
            tax=Decimal("207.00"),
        )

    class Meta:
        model = Invoice

    @classmethod
    def _create(cls, model_class, **kwargs):
        fields = {name: kwargs.pop(name) for name in list(kwargs) if name not in ISSUE_ARGUMENTS}
        invoice, created = invoice_issue(**kwargs)
        if not created:
            raise ValueError(f"{invoice.device.device_id} already has an invoice for {invoice.month_label}")
        if fields:
            for name, value in fields.items():
                setattr(invoice, name, value)
            _settle(invoice, set(fields))
            _ledger_follows(invoice)
            invoice.pdf.storage.delete(invoice.pdf.name)  # the issued one, without these fields
            invoice.pdf.save(invoice.pdf_filename, ContentFile(render_invoice_pdf(invoice)), save=False)
            invoice.save()
        return invoice


def _ledger_follows(invoice) -> None:
    """Make the ledger agree with fields set after issue: a held bill gives its number back and leaves the
    ledger (as the product holds one); an issued one is posted at its final total."""
    entry = LedgerEntry.objects.get(invoice=invoice, kind=LedgerEntry.Kind.INVOICE)
    if invoice.status == Invoice.Status.HELD:
        entry.allocations_received.all().delete()
        entry.delete()
        sequence = DocumentSequence.objects.get(
            series=DocumentSequence.Series.INVOICE, financial_year=financial_year(invoice.issue_day)
        )
        if document_number(sequence.series, sequence.financial_year, sequence.last_number) == invoice.number:
            sequence.last_number -= 1
            sequence.save(update_fields=["last_number"])
        invoice.number = held_invoice_number(device=invoice.device, month=invoice.month)
        invoice.previous_balance = invoice.payments_since = invoice.amount_due = None
        return
    wanted_status, wanted_paid_date = invoice.status, invoice.paid_date
    with transaction.atomic():
        entry.allocations_received.all().delete()
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=invoice.total)
        invoice.amount_due = entry.account.entries.aggregate(total=Sum("amount"))["total"]
        Invoice.objects.filter(pk=invoice.pk).update(total=invoice.total, status=Invoice.Status.ISSUED)
        ledger_allocate(account=account_lock(account=entry.account))
    if wanted_status == Invoice.Status.PAID:  # paid as the product records it: a payment of what is open
        invoice_mark_paid(invoice=invoice, paid_date=wanted_paid_date)
    settled = Invoice.objects.values_list("status", "paid_date").get(pk=invoice.pk)
    if settled[0] == Invoice.Status.PAID or wanted_status == Invoice.Status.ISSUED:
        invoice.status, invoice.paid_date = settled


class BillingRunFactory(DjangoModelFactory):
    month = date(2025, 1, 1)

    class Meta:
        model = BillingRun
