"""The customer's invoices and meter pages: an Estimated badge, and an estimate, an adjustment and credit
explained in plain words."""

from datetime import date

import pytest

from tests.factories import InvoiceFactory, TariffFactory

pytestmark = pytest.mark.django_db

ADJUSTMENT = (
    "Your January bill was estimated at 120 kWh; the actual reading shows 104 kWh, so this bill takes off ₹80.50."
)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BILLING_TIME_ZONE = "Asia/Kolkata"


@pytest.fixture
def bills(device):
    TariffFactory()
    january = InvoiceFactory(device=device, month=date(2025, 1, 1), estimate=True, energy_kwh="120")
    february = InvoiceFactory(device=device, month=date(2025, 2, 1), adjusted=True, energy_kwh="90")
    return january, february


def test_the_invoices_page_badges_an_estimated_bill_and_explains_it_and_the_adjustment(client, customer, bills):
    january, february = bills
    client.force_login(customer)
    html = client.get("/invoices/").content.decode()
    assert html.count('<span class="tag-estimate">Estimated</span>') == 1
    assert f'data-invoice="{january.number}"' in html
    assert "No meter reading reached us by" in html
    assert "this bill is estimated from your average daily use over the last 90 days." in html
    assert ADJUSTMENT in html
    assert "style=" not in html.split("<main", 1)[-1]  # the CSP forbids inline styles


def test_a_plain_bill_gets_no_badge_or_explanation(client, customer, device):
    TariffFactory()
    InvoiceFactory(device=device, month=date(2025, 1, 1))
    client.force_login(customer)
    html = client.get("/invoices/").content.decode()
    assert "tag-estimate" not in html
    assert "invoice-explanation" not in html


def test_the_meter_page_shows_the_latest_bill_with_its_explanation(client, customer, bills):
    _, february = bills
    client.force_login(customer)
    html = client.get("/meters/meter-001/").content.decode()
    assert 'id="latest-bill"' in html
    assert february.number in html or f"/api/invoices/{february.number}/pdf" in html
    assert "February 2025" in html
    assert ADJUSTMENT in html


def test_credit_is_explained(client, customer, device):
    TariffFactory()
    InvoiceFactory(device=device, month=date(2025, 2, 1), energy_kwh="5", adjusted=True)
    client.force_login(customer)
    html = client.get("/invoices/").content.decode()
    assert "₹0.85 of credit is left over and will be taken off your next bill." in html


def test_a_bill_split_by_a_tariff_change_says_so_in_plain_words(client, customer, device):
    TariffFactory()
    InvoiceFactory(device=device, month=date(2025, 1, 1), split=True)
    client.force_login(customer)
    html = client.get("/invoices/").content.decode()
    assert "The tariff changed on 15 January, so this bill is in 2 parts (1 to 14 January: 100.000 kWh;" in html
    assert "15 to 31 January: 150.000 kWh), each at its own rates" in html
