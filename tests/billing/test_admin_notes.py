"""Notes in the back office: issuing a credit note and re-rating a month from an invoice's page (previewed
first), the read-only Note admin and its PDF (docs/billing.md#credit-and-debit-notes)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Invoice, Note
from billing.receivables import account_balance
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db

JANUARY_TOTAL = Decimal("1268.50")


@pytest.fixture
def january(invoice_factory):
    return invoice_factory(month=date(2025, 1, 1))


def test_staff_issue_a_credit_note_from_the_invoice_page(staff_client, january):
    page = staff_client.get(f"/admin/billing/invoice/{january.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="issue-note"' in html
    assert "No notes: the invoice stands as issued." in html

    form = staff_client.get(f"/admin/billing/invoice/{january.pk}/note/")
    assert form.status_code == 200
    assert 'name="amount"' in form.content.decode()
    response = staff_client.post(
        f"/admin/billing/invoice/{january.pk}/note/",
        {"kind": "credit", "amount": "100.00", "description": "Goodwill after an outage"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/billing/invoice/{january.pk}/change/"
    note = Note.objects.get()
    assert (note.kind, note.reason, note.amount, note.invoice) == ("credit", "adjustment", Decimal("100.00"), january)
    assert account_balance(account=january.account) == JANUARY_TOTAL - Decimal("100.00")
    listed = staff_client.get(f"/admin/billing/invoice/{january.pk}/change/").content.decode()
    assert note.number in listed
    assert f"{note.number} issued for ₹100.00" in listed  # the success message


def test_a_note_without_a_description_is_refused_on_the_form(staff_client, january):
    response = staff_client.post(
        f"/admin/billing/invoice/{january.pk}/note/", {"kind": "debit", "amount": "10.00", "description": ""}
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not Note.objects.exists()


def test_staff_re_rate_a_month_after_a_preview_of_the_difference(staff_client, january):
    url = f"/admin/billing/invoice/{january.pk}/rerate/"
    closing = str(january.end_register - 50)
    assert staff_client.get(url).status_code == 200

    preview = staff_client.post(url, {"closing_register": closing, "reason": "Read on site"})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert 'id="rerate-preview"' in html
    assert "Credit note of ₹265.50" in html
    assert "₹1,003.00" in html  # the month billed again
    assert 'name="confirm"' in html
    assert not Note.objects.exists()  # a preview issues nothing

    confirmed = staff_client.post(url, {"closing_register": closing, "reason": "Read on site", "confirm": "1"})
    assert confirmed.status_code == 302
    note = Note.objects.get()
    assert (note.kind, note.reason, note.amount) == ("credit", "rerate", Decimal("265.50"))

    again = staff_client.post(url, {"closing_register": closing, "reason": "Read on site"})
    assert again.status_code == 400
    assert "nothing to issue" in again.content.decode()
    assert Note.objects.count() == 1


def test_a_re_rate_with_nothing_to_change_or_of_a_held_bill_is_refused_with_the_reason(
    staff_client, january, invoice_factory
):
    nothing = staff_client.post(f"/admin/billing/invoice/{january.pk}/rerate/", {"reason": "Check", "confirm": "1"})
    assert nothing.status_code == 400
    assert "Give a corrected closing register" in nothing.content.decode()
    held = invoice_factory(month=date(2025, 2, 1), held=True)
    response = staff_client.post(
        f"/admin/billing/invoice/{held.pk}/rerate/", {"closing_register": "1", "reason": "x", "confirm": "1"}
    )
    assert response.status_code == 400
    assert "held for review" in response.content.decode()
    assert not Note.objects.exists()


def test_customers_cannot_reach_the_note_pages_or_pdfs(client, customer, january, staff_client):
    staff_client.post(
        f"/admin/billing/invoice/{january.pk}/note/", {"kind": "credit", "amount": "1.00", "description": "x"}
    )
    note = Note.objects.get()
    staff_client.logout()
    client.force_login(customer)
    for url in (
        f"/admin/billing/invoice/{january.pk}/note/",
        f"/admin/billing/invoice/{january.pk}/rerate/",
        f"/admin/billing/note/{note.pk}/pdf/",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    response = client.post(
        f"/admin/billing/invoice/{january.pk}/note/", {"kind": "credit", "amount": "5.00", "description": "x"}
    )
    assert response.status_code == 302
    assert Note.objects.count() == 1


def test_the_note_admin_lists_notes_read_only_and_its_pdf_reads_as_a_note(staff_client, january, tmp_path):
    staff_client.post(
        f"/admin/billing/invoice/{january.pk}/rerate/",
        {"closing_register": str(january.end_register - 50), "reason": "Read on site", "confirm": "1"},
    )
    note = Note.objects.get()
    listing = staff_client.get("/admin/billing/note/").content.decode()
    for expected in (note.number, january.number, january.consumer_number, "Month billed again", "265.50"):
        assert expected in listing, expected
    page = staff_client.get(f"/admin/billing/note/{note.pk}/change/")
    assert page.status_code == 200
    assert 'name="amount"' not in page.content.decode()
    assert staff_client.get("/admin/billing/note/add/").status_code == 403

    response = staff_client.get(f"/admin/billing/note/{note.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(pdf_text(response.content, tmp_path).split())
    for expected in (
        "CREDIT NOTE",
        note.number,
        january.number,
        january.consumer_number,
        "Rupees two hundred and sixty-five and fifty paise only",
        "Account balance after this note",
        "₹1,003.00",
    ):
        assert expected in text, expected
    january.refresh_from_db()
    assert (january.total, january.status) == (JANUARY_TOTAL, Invoice.Status.ISSUED)
