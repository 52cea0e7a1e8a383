"""Tariffs and invoices are made by billing's own services, so that they are valid as the
product makes them (contiguous slabs; an invoice's snapshot, number and PDF); billing runs
are plain rows."""

from datetime import date

import factory
from django.core.files.base import ContentFile
from factory.django import DjangoModelFactory

from billing.models import BillingRun, Invoice, Tariff
from billing.pdf import render_invoice_pdf
from billing.selectors import tariff_for_month
from billing.services.invoices import invoice_build, invoice_issue
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


class InvoiceFactory(DjangoModelFactory):
    """An issued invoice (PDF included; its email goes out on commit), by default for 250 kWh
    in January 2025 under the tariff that bills that month (the seed's if there is none).

    ``held=True``: the bill as a billing run holds it for review instead (status held, with
    ``held_reasons`` and optional ``excluded_readings``; PDF rendered, nothing emailed)."""

    device = factory.SubFactory(DeviceFactory)
    month = date(2025, 1, 1)
    consumption = factory.LazyAttribute(
        lambda invoice: consumption(
            invoice.device.device_id, invoice.energy_kwh, month=invoice.month, readings=invoice.reading_count
        )
    )
    tariff = factory.LazyAttribute(_tariff_billing)

    held_reasons = None  # set: the bill is saved held for review (see the `held` trait)
    excluded_readings = factory.LazyFunction(list)

    class Params:
        energy_kwh = "250"
        reading_count = 2976
        held = factory.Trait(held_reasons=["Energy 900.000 kWh is more than 3 times the trailing average."])

    class Meta:
        model = Invoice

    @classmethod
    def _create(cls, model_class, held_reasons=None, excluded_readings=(), **kwargs):
        if held_reasons is not None:
            return cls._create_held(held_reasons=held_reasons, excluded_readings=excluded_readings, **kwargs)
        invoice, created = invoice_issue(**kwargs)
        if not created:
            raise ValueError(f"{invoice.device.device_id} already has an invoice for {invoice.month_label}")
        return invoice

    @classmethod
    def _create_held(cls, *, held_reasons, excluded_readings, **kwargs):
        invoice = invoice_build(**kwargs)
        invoice.status = Invoice.Status.HELD
        invoice.held_reasons = list(held_reasons)
        invoice.excluded_readings = list(excluded_readings)
        invoice.closing_at = invoice.last_reading_at
        invoice.pdf.save(invoice.pdf_filename, ContentFile(render_invoice_pdf(invoice)), save=False)
        invoice.save(force_insert=True)
        return invoice


class BillingRunFactory(DjangoModelFactory):
    month = date(2025, 1, 1)

    class Meta:
        model = BillingRun
