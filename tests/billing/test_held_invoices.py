"""A bill held for review does not exist for its customer (lists, PDF, preview, email) until released;
staff see it everywhere."""

from datetime import date

import pytest
from django.core import mail

from billing import emails
from billing.models import Invoice
from billing.selectors import invoice_get_visible, invoice_list, invoice_list_for_customer
from tests.factories import DeviceFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(invoice_factory):
    invoice_factory(month=date(2024, 12, 1))  # an issued bill beside it
    return invoice_factory(month=date(2025, 1, 1), held=True)


def test_selectors_hide_a_held_bill_from_its_customer_and_show_it_to_staff(held, device, customer, staff):
    assert held.status == Invoice.Status.HELD
    assert [each.month for each in invoice_list(device=device, user=customer)] == [date(2024, 12, 1)]
    assert [each.month for each in invoice_list_for_customer(user=customer)] == [date(2024, 12, 1)]
    assert invoice_get_visible(user=customer, number=held.number) is None
    assert [each.month for each in invoice_list(device=device, user=staff)] == [date(2025, 1, 1), date(2024, 12, 1)]
    assert invoice_get_visible(user=staff, number=held.number) == held


def test_the_invoice_list_api_leaves_a_held_bill_out_for_the_customer_only(api, held, customer, staff):
    owner = api(customer).get("/api/invoices/meter-001")
    assert owner.status_code == 200
    assert [row["month"] for row in owner.json()] == ["2024-12"]
    assert owner["X-Total-Count"] == "1"
    rows = api(staff).get("/api/invoices/meter-001").json()
    assert [(row["month"], row["status"]) for row in rows] == [("2025-01", "held"), ("2024-12", "issued")]


def test_a_held_bills_pdf_is_not_found_for_its_customer_and_downloads_for_staff(api, held, customer, staff):
    response = api(customer).get(f"/api/invoices/{held.number}/pdf")
    assert response.status_code == 404
    assert response.json()["detail"] == f"No invoice '{held.number}'."
    assert api(staff).get(f"/api/invoices/{held.number}/pdf").content.startswith(b"%PDF-")


def test_the_bill_preview_of_a_held_month_is_computed_for_the_customer_as_if_unbilled(api, held, customer, staff):
    write_registers("meter-001", [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 20), "1050"), (ist(2025, 2, 1), "1090")])
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert body["invoice_id"] is None
    assert body["energy_kwh"] == "90.000"  # from the readings, not the held bill's 250 kWh
    assert body["month_complete"] is True
    staff_body = api(staff).get("/api/billing/meter-001?month=2025-01").json()
    assert staff_body["invoice_id"] == held.number
    assert staff_body["energy_kwh"] == "250.000"


def test_the_customer_pages_leave_a_held_bill_out(client, held, customer):
    client.force_login(customer)
    for path in ("/invoices/", "/invoices/?meter=meter-001", "/meters/meter-001/"):
        html = client.get(path).content.decode()
        assert held.number not in html, path
        assert "Held for review" not in html, path
    assert client.get(f"/api/invoices/{held.number}/pdf").status_code == 404


def test_staff_see_a_held_bill_on_their_own_pages_and_in_the_admin(client, staff_client, staff, invoice_factory):
    own = invoice_factory(device=DeviceFactory(device_id="staff-home", owner=staff), held=True)
    html = staff_client.get("/invoices/").content.decode()
    assert own.number in html
    assert "Held for review" in html
    assert own.number in staff_client.get("/admin/billing/invoice/").content.decode()


def test_a_held_bill_is_never_emailed(held):
    with pytest.raises(emails.InvoiceHeld):
        emails.send_invoice_issued(held, pdf=b"%PDF-")
    with pytest.raises(emails.InvoiceHeld):
        emails.send_payment_reminder(
            held,
            stage="after_due",
            open_amount=held.total,
            balance=held.total,
            today=held.due_date,
            statement=("statement.pdf", b"%PDF-"),
        )
    assert mail.outbox == []
