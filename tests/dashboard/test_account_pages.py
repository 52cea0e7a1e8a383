"""The customer's money pages with the Django test client: the account on My meters, the statement with
its PDF and CSV, receipts, and how to pay with the UPI QR code."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.customer_account import account_of
from billing.selectors import billing_today
from billing.services.payments import payment_record, payment_reverse
from billing.upi import upi_payment_uri, upi_qr_svg
from tests.factories import DeviceFactory, InvoiceFactory, TariffFactory

pytestmark = pytest.mark.django_db

# 250 kWh under the seed tariff: 1025.00 + 50.00 fixed + 18% tax = 1268.50.
BILL = Decimal("1268.50")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BILLING_TIME_ZONE = "Asia/Kolkata"
    settings.UTILITY_UPI_VPA = "smartmeter@okaxis"
    settings.UTILITY_BANK_ACCOUNT = ""
    settings.UTILITY_BANK_IFSC = ""


@pytest.fixture
def billed(customer, device):
    """The customer's January 2025 bill, issued (and posted to their account) today."""
    TariffFactory()
    invoice = InvoiceFactory(device=device, month=date(2025, 1, 1))
    return account_of(customer=customer), invoice


def _pay(account, amount, *, method="upi", on=None):
    return payment_record(account=account, amount=Decimal(amount), method=method, received_on=on or billing_today())


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.mark.parametrize(
    "path",
    [
        "/account/statement/",
        "/account/statement/pdf/",
        "/account/statement/csv/",
        "/account/receipts/",
        "/account/receipts/RCT-2425-0000001.pdf",
        "/account/pay/",
        "/account/pay/qr.svg",
    ],
)
def test_money_pages_ask_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


# --- My meters -------------------------------------------------------------------


def test_my_meters_shows_the_consumer_number_balance_and_what_is_due_by_when(signed_in, customer, billed):
    account, invoice = billed
    html = signed_in(customer).get("/").content.decode()
    assert account.consumer_number in html
    assert 'id="account-balance">₹1,268.50' in html
    assert "₹1,268.50" in html.split('id="amount-due"')[1][:40]
    assert f'datetime="{invoice.due_date:%Y-%m-%d}"' in html
    assert 'href="/account/pay/" id="pay-now-link">Pay now' in html
    assert 'href="/account/statement/"' in html


def test_my_meters_says_when_the_customer_has_credit(signed_in, customer, billed):
    account, _ = billed
    _pay(account, "1500.00")
    html = signed_in(customer).get("/").content.decode()
    assert '₹231.50 <span class="unit">in credit' in html
    assert "You have ₹231.50 in credit" in html
    assert "Pay now" not in html
    assert "How to pay" in html


def test_my_meters_shows_no_account_card_before_the_first_bill(signed_in, customer, device):
    html = signed_in(customer).get("/").content.decode()
    assert 'id="account-summary"' not in html


# --- Statement ---------------------------------------------------------------------


def test_the_statement_lists_the_last_twelve_months_with_a_running_balance(signed_in, customer, billed):
    account, invoice = billed
    _pay(account, "500.00")
    response = signed_in(customer).get("/account/statement/")
    assert response.status_code == 200
    html = response.content.decode()
    today = billing_today()
    assert f'value="{today:%Y-%m-%d}"' in html
    assert f'value="{today.replace(year=today.year - 1):%Y-%m-%d}"' in html
    table = html.split('id="statement-table"')[1]
    assert invoice.number in table
    assert table.index("₹1,268.50") < table.index("₹768.50")  # the bill, then the balance after the payment
    assert 'id="closing-balance">₹768.50' in table
    assert f"from={today.replace(year=today.year - 1):%Y-%m-%d}&amp;to={today:%Y-%m-%d}" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2025-03-01", "to": "2025-01-01"}, "must be on or before the end"),
        ({"from": "2010-01-01", "to": "2025-01-01"}, "at most five years"),
        ({"from": "2025-01-01", "to": "2999-01-01"}, "must be today"),
        ({"from": "1-1-2025", "to": "2025-01-01"}, "Enter a date as YYYY-MM-DD."),
        ({"from": "2025-01-01"}, "This field is required."),
    ],
)
def test_a_bad_period_is_refused_with_a_clear_message(signed_in, customer, billed, query, message):
    response = signed_in(customer).get("/account/statement/", query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'id="statement-table"' not in html


def test_a_download_with_a_bad_period_goes_back_to_the_page_that_explains(signed_in, customer, billed):
    response = signed_in(customer).get("/account/statement/pdf/", {"from": "2025-03-01", "to": "2025-01-01"})
    assert response.status_code == 302
    assert response["Location"] == "/account/statement/?from=2025-03-01&to=2025-01-01"


def test_the_statement_downloads_as_pdf_and_csv_for_the_same_period(signed_in, customer, billed):
    account, invoice = billed
    _pay(account, "500.00")
    client = signed_in(customer)
    today = billing_today()
    start = today - timedelta(days=30)
    period = {"from": start.isoformat(), "to": today.isoformat()}
    stem = f"statement-{account.consumer_number}-{start:%Y-%m-%d}-to-{today:%Y-%m-%d}"

    pdf = client.get("/account/statement/pdf/", period)
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="{stem}.pdf"'
    assert pdf.content.startswith(b"%PDF")

    response = client.get("/account/statement/csv/", period)
    assert response["Content-Disposition"] == f'attachment; filename="{stem}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][:2] == [start.isoformat(), "opening_balance"]
    assert [row[2] for row in rows[2:]] == [invoice.number, account.payments.get().number]
    assert rows[-1][-1] == "768.50"


def test_a_customer_without_an_account_is_told_it_opens_with_the_first_bill(signed_in, customer, device):
    client = signed_in(customer)
    for path in ("/account/statement/", "/account/receipts/", "/account/pay/"):
        assert "opens with your first bill" in client.get(path).content.decode()
    assert client.get("/account/statement/pdf/").status_code == 404


# --- Receipts ------------------------------------------------------------------------


def test_receipts_list_the_customers_payments_and_download_as_pdf(signed_in, customer, billed):
    account, _ = billed
    first = _pay(account, "500.00", method="cash", on=billing_today() - timedelta(days=2))
    second = _pay(account, "200.00", method="cheque")
    payment_reverse(payment=second, reason="Cheque returned unpaid")
    client = signed_in(customer)
    html = client.get("/account/receipts/").content.decode()
    table = html.split('id="receipts-table"')[1]
    assert table.index(second.number) < table.index(first.number)  # newest first
    second_row = table.split(f'data-receipt="{second.number}"')[1].split("</tr>")[0]
    assert "Reversed" in second_row
    assert "Cheque returned unpaid" in second_row
    first_row = table.split(f'data-receipt="{first.number}"')[1].split("</tr>")[0]
    assert "Cash" in first_row
    assert "₹500.00" in first_row
    assert "Received" in first_row

    pdf = client.get(f"/account/receipts/{first.number}.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="receipt-{first.number}.pdf"'
    assert pdf.content.startswith(b"%PDF")


def test_another_customers_receipt_is_not_found_like_a_missing_one(signed_in, customer, other_customer, billed):
    account, _ = billed
    payment = _pay(account, "100.00")
    DeviceFactory(device_id="meter-002", owner=other_customer)
    InvoiceFactory(device=other_customer.devices.get(), month=date(2025, 1, 1))
    client = signed_in(other_customer)
    assert client.get(f"/account/receipts/{payment.number}.pdf").status_code == 404
    assert client.get("/account/receipts/RCT-9900-9999999.pdf").status_code == 404
    assert payment.number not in client.get("/account/receipts/").content.decode()


# --- How to pay ------------------------------------------------------------------------


def test_how_to_pay_shows_the_amount_the_upi_qr_code_and_link(signed_in, customer, billed):
    account, _ = billed
    _pay(account, "268.50")
    client = signed_in(customer)
    html = client.get("/account/pay/").content.decode()
    assert 'id="pay-amount-due">₹1,000.00' in html
    assert '<img src="/account/pay/qr.svg"' in html
    assert 'id="upi-vpa">smartmeter@okaxis' in html
    expected_link = "upi://pay?pa=smartmeter@okaxis&amp;pn=Smartmeter%20Power%20Distribution%20Ltd.&amp;am=1000.00"
    assert (
        f'href="{expected_link}&amp;cu=INR&amp;tn=Consumer%20{account.consumer_number}&amp;tr=Consumer%20{account.consumer_number}"'
        in html
    )
    assert "1 Grid Road, Bengaluru 560001" in html
    assert 'id="pay-bank"' not in html  # no bank account configured

    qr = client.get("/account/pay/qr.svg")
    assert qr.status_code == 200
    assert qr["Content-Type"] == "image/svg+xml"
    svg = qr.content.decode()
    assert svg.startswith("<svg")
    assert "style" not in svg
    assert "script" not in svg


def test_the_qr_code_encodes_the_upi_link_for_what_is_due_now(signed_in, customer, billed):
    account, _ = billed
    client = signed_in(customer)
    before = client.get("/account/pay/qr.svg").content.decode()
    link = upi_payment_uri(
        vpa="smartmeter@okaxis",
        payee="Smartmeter Power Distribution Ltd.",
        amount=BILL,
        note=f"Consumer {account.consumer_number}",
    )
    assert before == upi_qr_svg(link)
    _pay(account, "68.50")
    after = client.get("/account/pay/qr.svg").content.decode()
    assert after == upi_qr_svg(link.replace("am=1268.50", "am=1200.00"))


def test_bank_details_show_only_when_configured(signed_in, customer, billed, settings):
    settings.UTILITY_BANK_ACCOUNT = "50200012345678"
    settings.UTILITY_BANK_IFSC = "HDFC0001234"
    account, _ = billed
    html = signed_in(customer).get("/account/pay/").content.decode()
    assert 'id="bank-account">50200012345678' in html
    assert 'id="bank-ifsc">HDFC0001234' in html
    assert f"Quote your consumer number <strong>{account.consumer_number}" in html


def test_no_qr_code_when_nothing_is_due(signed_in, customer, billed):
    account, _ = billed
    _pay(account, "1268.50")
    client = signed_in(customer)
    html = client.get("/account/pay/").content.decode()
    assert "Nothing to pay right now." in html
    assert "qr.svg" not in html
    assert "upi://" not in html
    assert "To pay ahead, send any amount" in html
    assert client.get("/account/pay/qr.svg").status_code == 404


def test_no_qr_code_without_a_upi_address(signed_in, customer, billed, settings):
    settings.UTILITY_UPI_VPA = ""
    client = signed_in(customer)
    html = client.get("/account/pay/").content.decode()
    assert 'id="pay-amount-due">₹1,268.50' in html
    assert "qr.svg" not in html
    assert 'id="pay-upi"' not in html
    assert "Cash or cheque at our office" in html
    assert "Online payment details are not published yet" in html
    assert client.get("/account/pay/qr.svg").status_code == 404


def test_a_misconfigured_upi_address_offers_no_qr_code(signed_in, customer, billed, settings):
    settings.UTILITY_UPI_VPA = "not a vpa"
    client = signed_in(customer)
    assert "upi://" not in client.get("/account/pay/").content.decode()
    assert client.get("/account/pay/qr.svg").status_code == 404


def test_money_pages_carry_no_inline_script_or_style(signed_in, customer, billed):
    client = signed_in(customer)
    for path in ("/", "/account/statement/", "/account/receipts/", "/account/pay/"):
        html = client.get(path).content.decode()
        assert " style=" not in html, path
        assert "<script>" not in html, path
