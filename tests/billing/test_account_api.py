"""The customer account API: /api/account, its statement as JSON, CSV or PDF, and its receipts."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.customer_account import account_of
from billing.selectors import billing_today
from billing.services.payments import payment_record, payment_reverse
from tests.factories import DeviceFactory, InvoiceFactory

pytestmark = pytest.mark.django_db

BILL = "1268.50"  # 250 kWh under the seed tariff


@pytest.fixture(autouse=True)
def _upi(settings):
    settings.UTILITY_UPI_VPA = "smartmeter@okaxis"


@pytest.fixture
def account(invoice_factory, customer):
    invoice_factory(month=date(2025, 1, 1))
    return account_of(customer=customer)


def _pay(account, amount, *, method="upi", on=None):
    return payment_record(account=account, amount=Decimal(amount), method=method, received_on=on or billing_today())


def test_the_account_shows_balance_what_is_due_and_the_open_invoices(api, customer, account):
    _pay(account, "268.50")
    response = api(customer).get("/api/account")
    assert response.status_code == 200
    body = response.json()
    invoice = account.entries.get(kind="invoice").invoice
    assert body["consumer_number"] == account.consumer_number
    assert (body["balance"], body["credit"], body["amount_due"]) == ("1000.00", "0.00", "1000.00")
    assert body["due_date"] == invoice.due_date.isoformat()
    assert body["overdue"] is False
    assert body["upi_uri"].startswith("upi://pay?pa=smartmeter@okaxis&")
    assert "am=1000.00" in body["upi_uri"]
    [charge] = body["open_charges"]
    assert charge["kind"] == "invoice"
    assert charge["document_number"] == invoice.number
    assert (charge["amount"], charge["open_amount"]) == (BILL, "1000.00")
    assert charge["pdf_url"].endswith(f"/api/invoices/{invoice.number}/pdf")


def test_credit_shows_as_a_negative_balance_and_nothing_due(api, customer, account):
    _pay(account, "1300.00")
    body = api(customer).get("/api/account").json()
    assert (body["balance"], body["credit"], body["amount_due"]) == ("-31.50", "31.50", "0.00")
    assert body["open_charges"] == []
    assert body["due_date"] is None
    assert body["upi_uri"] is None


def test_a_customer_without_an_account_gets_a_clear_404(api, other_customer):
    response = api(other_customer).get("/api/account")
    assert response.status_code == 404
    assert response.json()["detail"] == "No account yet: it opens with the first bill."


def test_staff_read_any_account_by_consumer_number(api, staff, account):
    body = api(staff).get("/api/account", {"consumer_number": account.consumer_number}).json()
    assert body["consumer_number"] == account.consumer_number
    assert body["amount_due"] == BILL


def test_a_customer_cannot_read_another_account_by_its_number(api, other_customer, account):
    DeviceFactory(device_id="meter-002", owner=other_customer)
    InvoiceFactory(device=other_customer.devices.get(), month=date(2025, 1, 1))
    client = api(other_customer)
    theirs = client.get("/api/account", {"consumer_number": account.consumer_number})
    assert theirs.status_code == 404
    assert theirs.json()["detail"] == f"No account '{account.consumer_number}'."
    for path in ("/api/account/statement", "/api/account/receipts"):
        assert client.get(path, {"consumer_number": account.consumer_number}).status_code == 404


def test_a_malformed_consumer_number_is_a_400(api, staff):
    response = api(staff).get("/api/account", {"consumer_number": "1234567890"})
    assert response.status_code == 400
    assert "check digit" in response.json()["consumer_number"][0]


# --- statement ----------------------------------------------------------------------


def test_the_statement_defaults_to_the_last_twelve_months_with_a_running_balance(api, customer, account):
    _pay(account, "500.00")
    body = api(customer).get("/api/account/statement").json()
    today = billing_today()
    assert body["end"] == today.isoformat()
    assert body["start"] == today.replace(year=today.year - 1).isoformat()
    assert body["opening_balance"] == "0.00"
    assert [(line["kind"], line["charge"], line["credit"], line["balance"]) for line in body["lines"]] == [
        ("invoice", BILL, None, BILL),
        ("payment", None, "500.00", "768.50"),
    ]
    assert (body["total_charges"], body["total_credits"], body["closing_balance"]) == (BILL, "500.00", "768.50")


def test_the_statement_carries_the_balance_brought_forward(api, customer, account):
    _pay(account, "100.00", on=billing_today() - timedelta(days=10))
    since = billing_today() - timedelta(days=5)
    body = api(customer).get("/api/account/statement", {"from": since.isoformat()}).json()
    assert body["opening_balance"] == "-100.00"  # paid ahead, before the bill was issued today
    assert [(line["kind"], line["balance"]) for line in body["lines"]] == [("invoice", "1168.50")]
    assert body["closing_balance"] == "1168.50"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "2025-03-01", "to": "2025-01-01"}, "from", "must be on or before the end"),
        ({"from": "2001-01-01", "to": "2025-01-01"}, "from", "at most five years"),
        ({"to": "2999-01-01"}, "to", "must be today"),
        ({"from": "yesterday"}, "from", "Date has wrong format"),
    ],
)
def test_a_bad_period_is_a_400_that_says_why(api, customer, account, query, field, message):
    for fmt in ("json", "csv", "pdf"):
        response = api(customer).get("/api/account/statement", {**query, "format": fmt})
        assert response.status_code == 400, fmt
        assert response["Content-Type"] == "application/json", fmt
        assert message in response.json()[field][0]


def test_the_statement_as_csv_by_format_or_accept(api, customer, account):
    payment = _pay(account, "500.00")
    today = billing_today()
    start = today - timedelta(days=7)
    client = api(customer)
    query = {"from": start.isoformat(), "to": today.isoformat()}
    by_format = client.get("/api/account/statement", {**query, "format": "csv"})
    by_accept = client.get("/api/account/statement", query, HTTP_ACCEPT="text/csv")
    for response in (by_format, by_accept):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="statement-{account.consumer_number}-{start:%Y-%m-%d}-to-{today:%Y-%m-%d}.csv"'
        )
    rows = list(csv.reader(io.StringIO(by_format.content.decode())))
    assert rows[0][0] == "date"
    assert rows[-1][2:] == [payment.number, "Payment by UPI", "", "500.00", "768.50"]
    assert by_accept.content == by_format.content


def test_the_statement_as_pdf(api, customer, account):
    response = api(customer).get("/api/account/statement", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].endswith('.pdf"')
    assert response.content.startswith(b"%PDF")


def test_an_unknown_format_is_a_json_404(api, customer, account):
    response = api(customer).get("/api/account/statement", {"format": "xml"})
    assert response.status_code == 404
    assert "detail" in response.json()


def test_statement_pdfs_count_against_the_pdf_rate_limit(api, customer, account, rate_limits, settings):
    settings.RATELIMIT_PDF = "2/m"
    client = api(customer)
    for _ in range(4):  # JSON and CSV are not limited as PDFs
        assert client.get("/api/account/statement", {"format": "csv"}).status_code == 200
    statuses = [client.get("/api/account/statement", {"format": "pdf"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- receipts -----------------------------------------------------------------------------


def test_receipts_list_newest_first_with_reversals_marked(api, customer, account):
    first = _pay(account, "500.00", method="cash", on=billing_today() - timedelta(days=3))
    second = _pay(account, "200.00", method="cheque")
    payment_reverse(payment=second, reason="Cheque returned unpaid")
    response = api(customer).get("/api/account/receipts")
    assert response["X-Total-Count"] == "2"
    rows = response.json()
    assert [row["number"] for row in rows] == [second.number, first.number]
    assert rows[0]["reversed"] is True
    assert rows[0]["reversal_reason"] == "Cheque returned unpaid"
    assert (rows[1]["method"], rows[1]["amount"], rows[1]["reversed"]) == ("cash", "500.00", False)
    assert rows[1]["pdf_url"].endswith(f"/api/account/receipts/{first.number}/pdf")


def test_a_receipt_pdf_is_the_customers_own_or_a_404(api, customer, other_customer, staff, account):
    payment = _pay(account, "500.00")
    path = f"/api/account/receipts/{payment.number}/pdf"
    own = api(customer).get(path)
    assert own.status_code == 200
    assert own["Content-Type"] == "application/pdf"
    assert own.content.startswith(b"%PDF")
    assert api(staff).get(path).status_code == 200
    theirs = api(other_customer).get(path)
    missing = api(other_customer).get("/api/account/receipts/RCT-9900-9999999/pdf")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(payment.number, "X") == missing.json()["detail"].replace(
        "RCT-9900-9999999", "X"
    )


def test_the_account_endpoints_are_in_the_openapi_schema(api, customer):
    schema = api(customer).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    statement = schema["paths"]["/api/account/statement"]["get"]
    assert set(statement["responses"]["200"]["content"]) == {"application/json", "text/csv", "application/pdf"}
    assert {"from", "to", "format", "consumer_number"} <= {param["name"] for param in statement["parameters"]}
    assert "/api/account" in schema["paths"]
    assert "/api/account/receipts" in schema["paths"]
