"""POST/GET /api/payments, POST /api/payments/<receipt>/reverse and GET /api/payments/<receipt>/receipt:
who may do what, what each answers, and two payments for one account racing on PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.models import Allocation, DocumentSequence, Invoice, Payment
from billing.receivables import account_balance, invoice_open_amount
from billing.selectors import billing_today
from billing.services.payments import payment_record
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db

JANUARY_TOTAL = Decimal("1268.50")


def _body(account, **fields) -> dict:
    return {"consumer_number": account.consumer_number, "amount": "500.00", "method": "cash", **fields}


def test_staff_record_a_payment_and_get_the_receipt_number_allocations_and_balance(api, staff, invoice_factory):
    invoice = invoice_factory()
    response = api(staff).post(
        "/api/payments", _body(invoice.account, method="upi", reference="UPI 4471"), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    payment = Payment.objects.get()
    assert body["receipt_number"] == payment.number
    assert payment.number.startswith("RCT-")
    assert body["consumer_number"] == invoice.account.consumer_number
    assert (body["amount"], body["method"], body["reference"]) == ("500.00", "upi", "UPI 4471")
    assert body["received_on"] == billing_today().isoformat()  # default: today in the billing zone
    assert body["allocations"] == [
        {
            "document_number": invoice.number,
            "kind": "invoice",
            "amount": "500.00",
            "released": False,
            "released_at": None,
        }
    ]
    assert (body["unapplied"], body["balance"], body["reversed"]) == ("0.00", "768.50", False)
    assert body["receipt_url"] == f"http://testserver/api/payments/{payment.number}/receipt"
    assert response["Location"] == f"/api/payments/{payment.number}/receipt"
    assert payment.recorded_by == staff
    assert invoice_open_amount(invoice=invoice) == Decimal("768.50")


def test_a_payment_received_earlier_keeps_its_day(api, staff, invoice_factory):
    account = invoice_factory().account
    response = api(staff).post("/api/payments", _body(account, received_on="2025-02-03"), format="json")
    assert response.status_code == 201
    assert response.json()["received_on"] == "2025-02-03"
    assert response.json()["receipt_number"] == "RCT-2425-0000001"  # the financial year it was received in


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"consumer_number": "1999999996"}, "consumer_number", "No account has consumer number 1999999996."),
        ({"consumer_number": "1000000019"}, "consumer_number", "1000000019 is not a consumer number"),
        ({"amount": "lots"}, "amount", 'The amount must be a number of rupees, as a string such as "1268.50".'),
        ({"amount": "NaN"}, "amount", "The amount must be a number of rupees"),
        ({"amount": "0"}, "amount", "The amount must be more than zero."),
        ({"amount": "-5.00"}, "amount", "The amount must be more than zero."),
        ({"amount": "10.001"}, "amount", "The amount must have at most two decimal places (paise)."),
        ({"amount": "12345678901.00"}, "amount", "The amount must fit 10 digits of rupees."),
        ({"method": "barter"}, "method", 'Unknown payment method "barter"; use one of cash, upi, card'),
        ({"received_on": "tomorrow"}, "received_on", "is in the future; a payment is recorded once it is received"),
        ({"received_on": "03/02/2025"}, "received_on", "Date has wrong format"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(api, staff, invoice_factory, fields, field, message):
    account = invoice_factory().account
    if fields.get("received_on") == "tomorrow":
        fields = {"received_on": (billing_today() + timedelta(days=1)).isoformat()}
    response = api(staff).post("/api/payments", _body(account, **fields), format="json")
    assert response.status_code == 400
    body = response.json()
    assert message in " ".join(body[field])
    assert body["detail"].startswith(f"{field}: ")
    assert not Payment.objects.exists()
    assert not DocumentSequence.objects.filter(series="RCT").exists()


def test_missing_fields_are_named(api, staff, db):
    response = api(staff).post("/api/payments", {}, format="json")
    assert response.status_code == 400
    assert {"consumer_number", "amount", "method"} <= set(response.json())


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 403), ("other", 403)])
def test_only_staff_record_list_and_reverse(api, customer, other_customer, invoice_factory, who, expected):
    account = invoice_factory().account
    payment = payment_record(account=account, amount=Decimal("100.00"), method="cash", received_on=billing_today())
    user = {"anonymous": None, "owner": customer, "other": other_customer}[who]
    client = api(user)
    responses = [
        client.post("/api/payments", _body(account), format="json"),
        client.get("/api/payments"),
        client.post(f"/api/payments/{payment.number}/reverse", {"reason": "mine"}, format="json"),
    ]
    assert [response.status_code for response in responses] == [expected] * 3
    assert all(response.json()["detail"] for response in responses)
    assert Payment.objects.count() == 1
    payment.refresh_from_db()
    assert not payment.is_reversed


def test_staff_reverse_a_payment_once(api, staff, invoice_factory):
    invoice = invoice_factory()
    payment = payment_record(
        account=invoice.account, amount=JANUARY_TOTAL, method="cheque", received_on=billing_today()
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    client = api(staff)
    blank = client.post(f"/api/payments/{payment.number}/reverse", {"reason": " "}, format="json")
    assert blank.status_code == 400
    assert blank.json()["reason"] == ["Say why the payment is reversed."]
    response = client.post(f"/api/payments/{payment.number}/reverse", {"reason": "Cheque bounced"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reversed"] is True
    assert body["reversal_reason"] == "Cheque bounced"
    assert body["balance"] == "1268.50"
    assert [row["released"] for row in body["allocations"]] == [True]
    invoice.refresh_from_db()
    assert invoice.status in (Invoice.Status.ISSUED, Invoice.Status.OVERDUE)
    again = client.post(f"/api/payments/{payment.number}/reverse", {"reason": "Again"}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == f"Payment {payment.number} was already reversed on {billing_today():%Y-%m-%d}."
    assert account_balance(account=invoice.account) == JANUARY_TOTAL
    missing = client.post("/api/payments/RCT-2627-0099999/reverse", {"reason": "x"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No payment 'RCT-2627-0099999'."


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 404), ("staff", 200)])
def test_the_receipt_is_for_staff_and_the_customer_who_paid(
    api, customer, other_customer, staff, invoice_factory, tmp_path, who, expected
):
    account = invoice_factory().account
    payment = payment_record(account=account, amount=Decimal("500.00"), method="cash", received_on=billing_today())
    user = {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}[who]
    response = api(user).get(f"/api/payments/{payment.number}/receipt")
    assert response.status_code == expected
    if expected == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="receipt-{payment.number}.pdf"'
        text = pdf_text(response.content, tmp_path)
        assert payment.number in text
        assert account.consumer_number in text
        assert "Rupees five hundred only" in text
    else:
        assert response.json()["detail"]
    if who == "other":  # exactly what a receipt that does not exist looks like
        missing = api(user).get("/api/payments/RCT-2627-0099999/receipt")
        assert response.json()["detail"].replace(payment.number, "X") == missing.json()["detail"].replace(
            "RCT-2627-0099999", "X"
        )


def test_a_malformed_receipt_number_reaches_no_view(api, staff, db):
    for path in ("/api/payments/RCT-26-1/receipt", "/api/payments/rct-2627-0000001/reverse"):
        response = api(staff).post(path, {"reason": "x"}, format="json") if "reverse" in path else api(staff).get(path)
        assert response.status_code == 404
        assert response.json()["detail"].startswith("No API endpoint at /api/")


def test_staff_list_payments_of_one_account(api, staff, invoice_factory, other_customer):
    account = invoice_factory().account
    older = payment_record(account=account, amount=Decimal("100.00"), method="cash", received_on=date(2025, 2, 3))
    newer = payment_record(account=account, amount=Decimal("200.00"), method="upi", received_on=billing_today())
    client = api(staff)
    response = client.get("/api/payments", {"consumer_number": account.consumer_number})
    assert response.status_code == 200
    assert response["X-Total-Count"] == "2"
    assert [row["receipt_number"] for row in response.json()] == [newer.number, older.number]
    assert response.json()[1]["allocations"][0]["amount"] == "100.00"
    assert client.get("/api/payments", {"consumer_number": "1999999996"}).json() == []
    bad = client.get("/api/payments", {"consumer_number": "12345"})
    assert bad.status_code == 400
    assert "12345 is not a consumer number" in bad.json()["detail"]


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_payments_racing_for_one_account_allocate_each_rupee_once(api, staff, invoice_factory, settings):
    """Two staff record payments for the same account at the same moment: the account lock makes one wait,
    so no invoice is settled twice and the receipts are numbered one after the other."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent writers (run with DATABASE_URL=postgres://...)")
    january = invoice_factory(month=date(2025, 1, 1))
    february = invoice_factory(month=date(2025, 2, 1))
    account = january.account
    start = Barrier(2)

    def pay(amount):
        try:
            client = api(staff)
            start.wait(timeout=10)
            return client.post("/api/payments", _body(account, amount=amount), format="json")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(pay, ["1000.00", "1000.00"]))
    assert [response.status_code for response in responses] == [201, 201], [r.content for r in responses]
    numbers = sorted(response.json()["receipt_number"] for response in responses)
    assert [int(number[-7:]) for number in numbers] == [1, 2]
    for invoice in (january, february):
        settled = sum(
            Allocation.objects.filter(charge__invoice=invoice, released_at__isnull=True).values_list(
                "amount", flat=True
            ),
            Decimal("0.00"),
        )
        assert settled <= invoice.total
    assert invoice_open_amount(invoice=january) == Decimal("0.00")
    assert invoice_open_amount(invoice=february) == JANUARY_TOTAL * 2 - Decimal("2000.00")
    assert account_balance(account=account) == JANUARY_TOTAL * 2 - Decimal("2000.00")
    for response in responses:  # the balance each answer reports is read after its own commit
        assert Decimal(response.json()["balance"]) in {JANUARY_TOTAL * 2 - Decimal(paid) for paid in ("1000", "2000")}
