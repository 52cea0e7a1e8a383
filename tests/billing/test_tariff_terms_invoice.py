"""Slab style, fixed charge per kW and minimum charge on real invoices: snapshotted at issue, printed on the PDF,
shown and taken by the tariff API; a tariff without them bills exactly as before."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Invoice, Tariff
from billing.pdf import render_invoice_pdf
from billing.services import invoice_pdf_bytes
from billing.services.invoice_totals import invoice_totals_recompute
from devices.models import Device
from tests.billing.test_pdf import pdf_text
from tests.factories import SEED_SLABS, DeviceFactory, TariffFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db

D = Decimal
DECEMBER_2024 = date(2024, 12, 1)  # governs January 2025, the invoice factory's month


def lines_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_an_existing_tariff_bills_and_prints_exactly_as_before(invoice_factory, tmp_path):
    invoice = invoice_factory()
    assert (invoice.subtotal, invoice.fixed_charge, invoice.tax, invoice.total) == (
        D("1025.00"),
        D("50.00"),
        D("193.50"),
        D("1268.50"),
    )
    assert (invoice.slab_style, invoice.fixed_charge_basis) == ("telescopic", "per_connection")
    assert (invoice.fixed_charge_kw, invoice.fixed_charge_rate, invoice.minimum_charge) == (None, None, None)
    assert invoice.minimum_top_up == D("0.00")
    text = pdf_text(invoice_pdf_bytes(invoice=invoice), tmp_path)
    assert "Fixed charge ₹50.00" in lines_of(text)
    assert "Minimum charge" not in text
    assert "Non-telescopic" not in text


def test_per_kw_and_minimum_charge_are_billed_printed_and_frozen(seed_tariff, invoice_factory, device, tmp_path):
    tariff = TariffFactory(
        effective_from=DECEMBER_2024, fixed_charge="40.00", fixed_charge_basis="per_kw", minimum_charge="300.00"
    )
    Device.objects.filter(pk=device.pk).update(sanctioned_load_kw=D("5.00"))
    device.refresh_from_db()
    invoice = invoice_factory(energy_kwh="10")  # 35.00 + 5.00 kW × 40.00 = 235.00, topped up to 300.00
    assert invoice.tariff == tariff
    assert (invoice.subtotal, invoice.fixed_charge, invoice.minimum_top_up, invoice.tax, invoice.total) == (
        D("35.00"),
        D("200.00"),
        D("65.00"),
        D("54.00"),
        D("354.00"),
    )
    assert (invoice.fixed_charge_basis, invoice.fixed_charge_kw, invoice.fixed_charge_rate) == (
        "per_kw",
        D("5.00"),
        D("40.00"),
    )
    assert invoice.minimum_charge == D("300.00")
    before = pdf_text(render_invoice_pdf(invoice), tmp_path)
    assert "Fixed charge: 5.00 kW × ₹40.00 ₹200.00" in lines_of(before)
    assert "Minimum charge top-up ₹65.00" in lines_of(before)
    assert "Total for this bill ₹354.00" in lines_of(before)

    # Neither the meter's load nor the version (edited behind the product's back) changes the issued invoice.
    Device.objects.filter(pk=device.pk).update(sanctioned_load_kw=D("9.00"))
    Tariff.objects.filter(pk=tariff.pk).update(fixed_charge=D("99.00"), minimum_charge=None)
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert pdf_text(render_invoice_pdf(invoice), tmp_path) == before


def test_a_non_telescopic_invoice_bills_every_unit_at_one_slab_and_says_so(seed_tariff, invoice_factory, tmp_path):
    TariffFactory(effective_from=DECEMBER_2024, slab_style="non_telescopic")
    invoice = invoice_factory(energy_kwh="250")
    assert invoice.slab_style == "non_telescopic"
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("1125.00"), D("211.50"), D("1386.50"))
    text = pdf_text(render_invoice_pdf(invoice), tmp_path)
    assert "101-300 250 ₹4.50 ₹1,125.00" in lines_of(text)
    assert "0-100 0 ₹3.50 ₹0.00" in lines_of(text)
    assert "Non-telescopic tariff" in text


def test_the_billing_run_counts_each_meter_s_sanctioned_load(customer):
    TariffFactory(fixed_charge="40.00", fixed_charge_basis="per_kw")
    for device_id, load in (("meter-001", "3.00"), ("meter-002", "7.50")):
        DeviceFactory(device_id=device_id, owner=customer, sanctioned_load_kw=D(load))
        write_registers(device_id, [(ist(2025, 1, 1), "1000"), (ist(2025, 2, 1), "1250")])
    Device.objects.update(created_at=ist(2024, 12, 1))
    call_command("run_billing", "--month", "2025-01", stdout=StringIO(), stderr=StringIO())
    fixed = {
        invoice.device.device_id: (invoice.fixed_charge, invoice.fixed_charge_kw)
        for invoice in Invoice.objects.select_related("device")
    }
    assert fixed == {"meter-001": (D("120.00"), D("3.00")), "meter-002": (D("300.00"), D("7.50"))}


def test_the_tariff_api_takes_and_shows_the_new_terms(api, staff, customer):
    body = {
        "slabs": SEED_SLABS,
        "fixed_charge": "40.00",
        "tax_rate": "0.18",
        "effective_from": "2020-01-01",
        "slab_style": "non_telescopic",
        "fixed_charge_basis": "per_kw",
        "minimum_charge": "150.00",
    }
    assert api(staff).post("/api/tariffs", body, format="json").status_code == 201
    shown = api(customer).get("/api/tariffs").json()
    assert (shown["slab_style"], shown["fixed_charge_basis"], shown["minimum_charge"]) == (
        "non_telescopic",
        "per_kw",
        "150.00",
    )


def test_the_tariff_api_defaults_to_today_s_rules_and_names_bad_terms(api, staff):
    body = {"slabs": SEED_SLABS, "fixed_charge": "50.00", "tax_rate": "0.18", "effective_from": "2020-01-01"}
    created = api(staff).post("/api/tariffs", body, format="json").json()
    assert (created["slab_style"], created["fixed_charge_basis"], created["minimum_charge"]) == (
        "telescopic",
        "per_connection",
        None,
    )
    bad = api(staff).post(
        "/api/tariffs",
        {**body, "effective_from": "2021-01-01", "slab_style": "stepped", "minimum_charge": "-5"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["slab_style"] == ["The slab style must be one of telescopic, non_telescopic."]
    assert bad.json()["minimum_charge"] == ["The minimum charge must not be negative."]


def test_pricing_a_month_again_keeps_its_load_and_tops_up_afresh(seed_tariff, invoice_factory, device):
    TariffFactory(
        effective_from=DECEMBER_2024, fixed_charge="40.00", fixed_charge_basis="per_kw", minimum_charge="300.00"
    )
    Device.objects.filter(pk=device.pk).update(sanctioned_load_kw=D("5.00"))
    device.refresh_from_db()
    invoice = invoice_factory(energy_kwh="10")
    Device.objects.filter(pk=device.pk).update(sanctioned_load_kw=D("9.00"))
    invoice = Invoice.objects.get(pk=invoice.pk)

    invoice_totals_recompute(invoice=invoice, energy_kwh=D("20"))  # 70.00 + 200.00 = 270.00, topped up by 30.00
    assert (invoice.subtotal, invoice.fixed_charge, invoice.minimum_top_up, invoice.tax, invoice.total) == (
        D("70.00"),
        D("200.00"),
        D("30.00"),
        D("54.00"),
        D("354.00"),
    )
    invoice_totals_recompute(invoice=invoice, energy_kwh=D("100"))  # 350.00 + 200.00: above the minimum
    assert (invoice.minimum_top_up, invoice.tax, invoice.total) == (D("0.00"), D("99.00"), D("649.00"))
