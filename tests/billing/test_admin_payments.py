"""The payments back office: staff record a payment against a consumer number, see what it settled, reverse
it with a reason, download its receipt; accounts and the ledger are shown read-only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import Account, Invoice, LedgerEntry, Payment
from billing.receivables import account_balance, invoice_open_amount
from billing.selectors import billing_today
from tests.billing.test_pdf import pdf_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

JANUARY_TOTAL = Decimal("1268.50")
ADD_URL = "/admin/billing/payment/add/"


def _record(staff_client, capture, **fields):
    data = {"method": "cash", "reference": "", "received_on": billing_today().isoformat(), **fields}
    with capture(execute=True):
        return staff_client.post(ADD_URL, data, follow=True)


def _payment_page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_staff_record_a_part_payment_then_the_rest_then_reverse_it(
    staff_client, invoice_factory, django_capture_on_commit_callbacks, tmp_path
):
    invoice = invoice_factory()
    account = invoice.account
    form = staff_client.get(ADD_URL)
    assert form.status_code == 200
    assert "Record a payment" in form.content.decode()
    assert f'value="{billing_today().isoformat()}"' in form.content.decode()  # received today by default

    part = _record(
        staff_client, django_capture_on_commit_callbacks, consumer_number=account.consumer_number, amount="500"
    )
    first = Payment.objects.get()
    assert first.number.startswith("RCT-")
    assert first.amount == Decimal("500.00")
    assert _payment_page_messages(part) == [
        f"Receipt {first.number}: ₹500.00 from {account.consumer_number} settled {invoice.number} ₹500.00."
    ]
    assert part.redirect_chain[-1][0] == f"/admin/billing/payment/{first.pk}/change/"
    invoice.refresh_from_db()
    assert invoice.status != Invoice.Status.PAID
    assert invoice_open_amount(invoice=invoice) == JANUARY_TOTAL - Decimal("500.00")

    rest = _record(
        staff_client, django_capture_on_commit_callbacks, consumer_number=account.consumer_number, amount="768.50"
    )
    second = Payment.objects.exclude(pk=first.pk).get()
    assert int(second.number[-7:]) == int(first.number[-7:]) + 1
    assert f"settled {invoice.number} ₹768.50." in _payment_page_messages(rest)[0]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID

    page = staff_client.get(f"/admin/billing/payment/{second.pk}/change/").content.decode()
    assert f"/admin/billing/payment/{second.pk}/reverse/" in page
    assert f"/admin/billing/payment/{second.pk}/receipt/" in page
    assert 'name="amount"' not in page  # shown, not editable

    assert staff_client.post(f"/admin/billing/payment/{second.pk}/reverse/", {"reason": "  "}).status_code == 400
    reversed_page = staff_client.post(
        f"/admin/billing/payment/{second.pk}/reverse/", {"reason": "Cheque returned unpaid"}, follow=True
    )
    assert f"Payment {second.number} reversed; what it settled is open again." in reversed_page.content.decode()
    second.refresh_from_db()
    invoice.refresh_from_db()
    assert second.is_reversed
    assert second.reversal_reason == "Cheque returned unpaid"
    assert invoice.status in (Invoice.Status.ISSUED, Invoice.Status.OVERDUE)
    assert invoice_open_amount(invoice=invoice) == Decimal("768.50")
    page = staff_client.get(f"/admin/billing/payment/{second.pk}/change/").content.decode()
    assert "released" in page
    assert "Cheque returned unpaid" in page
    assert f"/admin/billing/payment/{second.pk}/reverse/" not in page  # no button once reversed

    again = staff_client.post(f"/admin/billing/payment/{second.pk}/reverse/", {"reason": "again"}, follow=True)
    assert f"Payment {second.number} was already reversed" in again.content.decode()
    assert LedgerEntry.objects.filter(payment=second, kind=LedgerEntry.Kind.REVERSAL).count() == 1
    assert account_balance(account=account) == Decimal("768.50")

    receipt = staff_client.get(f"/admin/billing/payment/{first.pk}/receipt/")
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt["Content-Disposition"] == f'attachment; filename="receipt-{first.number}.pdf"'
    text = pdf_text(receipt.content, tmp_path)
    assert first.number in text
    assert account.consumer_number in text
    assert "Rupees five hundred only" in text

    # One receipt email per payment, to the customer, with the receipt attached.
    assert [message.to for message in mail.outbox] == [["asha@example.com"], ["asha@example.com"]]
    attachment = mail.outbox[0].attachments[0]
    assert (attachment.filename, attachment.mimetype) == (f"receipt-{first.number}.pdf", "application/pdf")
    assert attachment.content.startswith(b"%PDF-")


def test_an_overpayment_is_reported_as_credit(staff_client, invoice_factory, django_capture_on_commit_callbacks):
    account = invoice_factory().account
    response = _record(
        staff_client, django_capture_on_commit_callbacks, consumer_number=account.consumer_number, amount="1300.00"
    )
    assert "₹31.50 is held as credit for the next bill" in _payment_page_messages(response)[0]


def test_the_account_can_be_picked_instead_of_typing_its_number(
    staff_client, invoice_factory, django_capture_on_commit_callbacks
):
    account = invoice_factory().account
    found = staff_client.get(
        "/admin/autocomplete/",
        {"app_label": "billing", "model_name": "payment", "field_name": "account", "term": "asha@"},
    ).json()
    assert [row["id"] for row in found["results"]] == [str(account.pk)]
    _record(staff_client, django_capture_on_commit_callbacks, account=account.pk, amount="100.00")
    assert Payment.objects.get().account == account


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"consumer_number": "1000000019"}, "consumer_number", "1000000019 is not a consumer number"),
        ({"consumer_number": "1999999996"}, "consumer_number", "No account has consumer number 1999999996."),
        ({"consumer_number": ""}, "consumer_number", "Give the consumer number or pick the account."),
        ({"amount": "0"}, "amount", "The amount must be more than zero."),
        ({"amount": "10.005"}, "amount", "no more than 2 decimal places"),
        ({"amount": "lots"}, "amount", "Enter a number."),
        ({"method": "barter"}, "method", "Select a valid choice."),
        ({"received_on": "tomorrow"}, "received_on", "is in the future"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_records_nothing(staff_client, invoice_factory, fields, field, message):
    account = invoice_factory().account
    data = {
        "consumer_number": account.consumer_number,
        "amount": "100.00",
        "method": "cash",
        "received_on": billing_today().isoformat(),
        **fields,
    }
    if data["received_on"] == "tomorrow":
        data["received_on"] = (billing_today() + timedelta(days=1)).isoformat()
    response = staff_client.post(ADD_URL, data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Payment.objects.exists()


def test_the_form_can_be_prefilled_from_an_invoice(staff_client, invoice_factory):
    invoice = invoice_factory()
    page = staff_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    link = f"/admin/billing/payment/add/?consumer_number={invoice.account.consumer_number}&amp;amount=1268.50"
    assert link in page
    form = staff_client.get(link.replace("&amp;", "&")).content.decode()
    assert f'value="{invoice.account.consumer_number}"' in form
    assert 'value="1268.50"' in form


def test_payments_are_listed_searched_and_filtered(staff_client, invoice_factory, django_capture_on_commit_callbacks):
    account = invoice_factory().account
    _record(
        staff_client,
        django_capture_on_commit_callbacks,
        consumer_number=account.consumer_number,
        amount="100.00",
        method="upi",
        reference="UPI-778899",
    )
    number = Payment.objects.get().number
    listing = staff_client.get("/admin/billing/payment/").content.decode()
    assert number in listing
    assert "Record a payment" in listing
    for term in (number, account.consumer_number, "UPI-778899", "asha@example.com"):
        assert number in staff_client.get("/admin/billing/payment/", {"q": term}).content.decode(), term
    assert number not in staff_client.get("/admin/billing/payment/", {"q": "nobody"}).content.decode()
    assert number in staff_client.get("/admin/billing/payment/?method__exact=upi").content.decode()
    assert number not in staff_client.get("/admin/billing/payment/?method__exact=cash").content.decode()
    assert number not in staff_client.get("/admin/billing/payment/?reversed=yes").content.decode()
    assert number in staff_client.get("/admin/billing/payment/?reversed=no").content.decode()


def test_payments_are_never_edited_or_deleted_in_the_admin(
    staff_client, invoice_factory, django_capture_on_commit_callbacks
):
    account = invoice_factory().account
    _record(staff_client, django_capture_on_commit_callbacks, consumer_number=account.consumer_number, amount="100")
    payment = Payment.objects.get()
    staff_client.post(f"/admin/billing/payment/{payment.pk}/change/", {"amount": "1.00"})
    assert staff_client.post(f"/admin/billing/payment/{payment.pk}/delete/", {"post": "yes"}).status_code == 403
    payment.refresh_from_db()
    assert payment.amount == Decimal("100.00")


def test_accounts_and_the_ledger_are_read_only(staff_client, invoice_factory, django_capture_on_commit_callbacks):
    invoice = invoice_factory()
    account = invoice.account
    _record(staff_client, django_capture_on_commit_callbacks, consumer_number=account.consumer_number, amount="268.50")
    listing = staff_client.get("/admin/billing/account/").content.decode()
    assert account.consumer_number in listing
    assert "₹1,000.00" in listing  # the balance
    page = staff_client.get(f"/admin/billing/account/{account.pk}/change/").content.decode()
    assert f"/admin/billing/account/{account.pk}/statement.pdf" in page
    assert 'name="consumer_number"' not in page
    statement = staff_client.get(f"/admin/billing/account/{account.pk}/statement.pdf")
    assert statement["Content-Type"] == "application/pdf"
    csv = staff_client.get(f"/admin/billing/account/{account.pk}/statement.csv").content.decode()
    assert invoice.number in csv
    assert "Payment by Cash,,268.50,1000.00" in csv
    assert staff_client.get("/admin/billing/account/add/").status_code == 403
    entries = staff_client.get("/admin/billing/ledgerentry/").content.decode()
    assert invoice.number in entries
    entry = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).get()
    assert staff_client.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert staff_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert Account.objects.count() == 1


def test_customers_and_staff_without_the_permission_cannot_record_or_reverse(client, customer, invoice_factory):
    account = invoice_factory().account
    client.force_login(customer)
    assert client.get(ADD_URL).status_code == 302  # to the admin login
    assert client.post(ADD_URL, {"consumer_number": account.consumer_number, "amount": "5"}).status_code == 302
    clerk = UserFactory(email="clerk@example.com", is_staff=True)  # staff, no billing permissions
    client.force_login(clerk)
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, {"consumer_number": account.consumer_number, "amount": "5"}).status_code == 403
    assert not Payment.objects.exists()
