"""The note API: staff issue a note on an invoice or bill its month again; the note's PDF for staff and the
note's customer; the note emailed once after it commits (docs/billing.md#credit-and-debit-notes)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Note
from billing.receivables import account_balance
from billing.services.notes import note_deliver
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

JANUARY_TOTAL = Decimal("1268.50")


@pytest.fixture
def january(invoice_factory):
    return invoice_factory(month=date(2025, 1, 1))


def test_staff_issue_a_debit_note_on_an_invoice(api, staff, january):
    response = api(staff).post(
        f"/api/invoices/{january.number}/notes",
        {"kind": "debit", "amount": "118.00", "description": "Meter test fee"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("DBN-")
    assert (body["kind"], body["reason"], body["invoice_id"], body["amount"]) == (
        "debit",
        "adjustment",
        january.number,
        "118.00",
    )
    assert body["consumer_number"] == january.consumer_number
    assert body["pdf_url"].endswith(f"/api/notes/{body['number']}/pdf")
    assert account_balance(account=january.account) == JANUARY_TOTAL + Decimal("118.00")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "refund", "amount": "10.00", "description": "x"}, "kind"),
        ({"kind": "credit", "amount": "0", "description": "x"}, "amount"),
        ({"kind": "credit", "amount": "1.001", "description": "x"}, "amount"),
        ({"kind": "credit", "amount": "10.00", "description": "  "}, "description"),
    ],
)
def test_a_bad_note_is_refused_with_a_message_and_nothing_is_issued(api, staff, january, body, message):
    response = api(staff).post(f"/api/invoices/{january.number}/notes", body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Note.objects.exists()


def test_a_note_on_an_invoice_that_does_not_exist_is_a_json_404(api, staff, january):
    response = api(staff).post(
        "/api/invoices/INV-2425-9999999/notes", {"kind": "credit", "amount": "1.00", "description": "x"}, format="json"
    )
    assert response.status_code == 404
    assert "INV-2425-9999999" in response.json()["detail"]


def test_re_rating_issues_a_credit_note_then_refuses_the_same_again(api, staff, january):
    body = {"closing_register": str(january.end_register - 50), "reason": "Read on site"}
    first = api(staff).post(f"/api/invoices/{january.number}/rerate", body, format="json")
    assert first.status_code == 201, first.content
    note = first.json()
    assert note["number"].startswith("CRN-")
    assert (note["kind"], note["reason"], note["amount"]) == ("credit", "rerate", "265.50")
    assert note["detail"]["energy_kwh_after"] == "200.000"
    again = api(staff).post(f"/api/invoices/{january.number}/rerate", body, format="json")
    assert again.status_code == 409
    assert "no difference" in again.json()["detail"]
    assert Note.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"closing_register": "1", "reason": "Typo"}, "below the opening register"),
        ({"reason": "Nothing to change"}, "Give a corrected closing register"),
        ({"closing_register": "5000"}, "reason"),
        ({"closing_register": "-1", "reason": "x"}, "closing_register"),
    ],
)
def test_a_re_rate_that_cannot_be_worked_out_is_a_400(api, staff, january, body, message):
    response = api(staff).post(f"/api/invoices/{january.number}/rerate", body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not Note.objects.exists()


def test_customers_may_not_issue_notes(api, customer, january):
    for route, body in (("notes", {"kind": "credit", "amount": "1.00", "description": "x"}), ("rerate", {})):
        response = api(customer).post(f"/api/invoices/{january.number}/{route}", body, format="json")
        assert response.status_code == 403
        assert "staff" in response.json()["detail"]
    assert not Note.objects.exists()


def test_the_note_pdf_is_for_staff_and_the_notes_customer_only(api, staff, customer, january):
    number = (
        api(staff)
        .post(
            f"/api/invoices/{january.number}/notes",
            {"kind": "credit", "amount": "50.00", "description": "Goodwill"},
            format="json",
        )
        .json()["number"]
    )
    for user in (customer, staff):
        response = api(user).get(f"/api/notes/{number}/pdf")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        assert f"credit-note-{number}.pdf" in response["Content-Disposition"]
    stranger = api(UserFactory(email="someone@example.com")).get(f"/api/notes/{number}/pdf")
    missing = api(customer).get("/api/notes/CRN-2425-9999999/pdf")
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json()["detail"].replace(number, "X") == missing.json()["detail"].replace("CRN-2425-9999999", "X")


def test_a_note_is_emailed_once_with_its_pdf_after_it_commits(
    api, staff, january, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(staff).post(
            f"/api/invoices/{january.number}/rerate",
            {"closing_register": str(january.end_register - 50), "reason": "Read on site"},
            format="json",
        )
    assert response.status_code == 201
    note = Note.objects.get(number=response.json()["number"])
    assert note.emailed_at is not None
    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["asha@example.com"]
    assert message["Subject"] == f"Credit note {note.number}: ₹265.50 on invoice {january.number}"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "We have credited ₹265.50 to consumer number" in text
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == [note.pdf_filename]
    with note.pdf.open("rb") as stored:
        assert stored.read() == attachments[0].get_content()
    assert note_deliver(note_id=note.pk) is False  # already sent: never twice
    assert len(smtp_server.messages) == 1
