"""GET /api/invoices/<device_id> and GET /api/invoices/<invoice_id>/pdf: who may see what, and what they get."""

from datetime import date
from pathlib import Path

import pytest

from billing.models import Invoice
from devices.services import device_assign
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def users(customer, other_customer, staff):
    return {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 404), ("staff", 200)])
def test_invoice_list_permissions(api, invoice_factory, customer, other_customer, staff, who, expected):
    invoice = invoice_factory()
    response = api(users(customer, other_customer, staff)[who]).get("/api/invoices/meter-001")
    assert response.status_code == expected
    if expected == 200:
        assert [row["invoice_id"] for row in response.json()] == [invoice.number]
    else:
        assert "detail" in response.json()


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 404), ("staff", 200)])
def test_invoice_pdf_permissions(api, invoice_factory, customer, other_customer, staff, who, expected):
    invoice = invoice_factory()
    response = api(users(customer, other_customer, staff)[who]).get(f"/api/invoices/{invoice.number}/pdf")
    assert response.status_code == expected
    if expected == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
    else:
        assert response.json()["detail"]


def test_invoice_list_shape(api, invoice_factory, customer):
    invoice_factory(month=date(2025, 1, 1))
    invoice_factory(month=date(2025, 2, 1), energy_kwh="90")
    response = api(customer).get("/api/invoices/meter-001")
    rows = response.json()
    assert response["X-Total-Count"] == "2"
    assert [row["month"] for row in rows] == ["2025-02", "2025-01"]
    latest = rows[0]
    assert set(latest) >= {"invoice_id", "month", "total", "status", "pdf_url", "created_at"}
    assert latest["total"] == "430.70"  # 90 kWh: 315.00 + 50.00 + tax 65.70
    assert latest["status"] == "issued"
    assert latest["pdf_url"] == f"http://testserver/api/invoices/{latest['invoice_id']}/pdf"


def test_unknown_meter_and_unknown_invoice_are_404(api, customer, invoice_factory):
    invoice_factory()
    assert api(customer).get("/api/invoices/no-such-meter").status_code == 404
    response = api(customer).get("/api/invoices/INV-000000-000000/pdf")
    assert response.status_code == 404
    assert response.json() == {"detail": "No invoice 'INV-000000-000000'."}


def test_pdf_download_has_a_sensible_filename_and_is_never_cached(api, customer, invoice_factory):
    invoice = invoice_factory()
    response = api(customer).get(f"/api/invoices/{invoice.number}/pdf", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    assert "no-store" in response["Cache-Control"]


def test_pdfs_are_stored_privately_and_have_no_public_url(client, invoice_factory, settings):
    invoice = invoice_factory()
    stored = Path(invoice.pdf.path)
    assert stored.is_file()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT) / "private")
    with pytest.raises(ValueError, match="no public URL"):
        invoice.pdf.url  # noqa: B018
    # Nothing maps the media folder: guessing the file's path gets nothing.
    for url in (f"/media/{invoice.pdf.name}", f"/media/private/{invoice.pdf.name}", f"/static/{invoice.pdf.name}"):
        assert client.get(url).status_code == 404


def test_a_lost_pdf_file_is_rendered_again_from_the_invoice(api, customer, invoice_factory):
    invoice = invoice_factory()
    Path(invoice.pdf.path).unlink()
    response = api(customer).get(f"/api/invoices/{invoice.number}/pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    invoice.refresh_from_db()
    assert Path(invoice.pdf.path).is_file()


def test_a_reassigned_meters_earlier_invoices_stay_with_the_customer_billed(
    api, customer, other_customer, invoice_factory, device
):
    invoice = invoice_factory()
    device_assign(device=device, owner=other_customer)
    # The new owner sees the meter, but not the bills of the previous owner.
    assert api(other_customer).get("/api/invoices/meter-001").json() == []
    assert api(other_customer).get(f"/api/invoices/{invoice.number}/pdf").status_code == 404
    # The customer who was billed can still download it.
    assert api(customer).get(f"/api/invoices/{invoice.number}/pdf").status_code == 200


def test_a_customer_only_lists_their_own_meters_invoices(api, customer, other_customer, invoice_factory):
    other_meter = DeviceFactory(device_id="meter-002", owner=other_customer)
    invoice_factory()
    invoice_factory(device=other_meter)
    assert Invoice.objects.count() == 2
    assert len(api(customer).get("/api/invoices/meter-001").json()) == 1
    assert api(customer).get("/api/invoices/meter-002").status_code == 404
