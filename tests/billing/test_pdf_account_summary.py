"""The invoice PDF as utilities print it, read back with pdftotext and pypdf: consumer number, service
address, the account summary with the amount due in words, the tax line by name, the UPI QR code and
twelve months of use."""

import io
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader

from billing.months import next_month
from billing.pdf import render_invoice_pdf
from billing.services.notes import note_issue
from billing.services.payments import payment_record
from billing.upi import upi_payment_uri, upi_qr_png
from tests.billing.test_pdf import pdf_text
from tests.factories import InvoiceFactory, TariffFactory

pytestmark = pytest.mark.django_db

VPA = "bills@examplebank"


@pytest.fixture(autouse=True)
def _utility(settings):
    settings.UTILITY_NAME = "Bengaluru Power & Light"
    settings.UTILITY_UPI_VPA = VPA


def text_of(invoice, tmp_path) -> str:
    """The PDF (rendered now, from the invoice as it is) as text, runs of spaces collapsed, one line per line."""
    text = pdf_text(render_invoice_pdf(invoice), tmp_path)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def flat(text: str) -> str:
    """For sentences that wrap: every line joined."""
    return " ".join(text.split())


def images_of(invoice) -> list[Image.Image]:
    reader = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    return [picture.image for page in reader.pages for picture in page.images]


def same_pixels(first: Image.Image, second: Image.Image) -> bool:
    return first.size == second.size and first.convert("L").tobytes() == second.convert("L").tobytes()


def test_the_consumer_number_and_the_service_address_are_printed(invoice_factory, device, tmp_path):
    device.location = "House 12, 4th Cross, Jayanagar"
    device.save()
    invoice = invoice_factory()
    assert invoice.consumer_number
    text = text_of(invoice, tmp_path)
    assert text.count(f"Consumer number {invoice.consumer_number}") == 2  # header and bill-to box
    assert "Service address House 12, 4th Cross, Jayanagar" in text


def test_a_first_bill_shows_a_zero_previous_balance_and_its_total_due_in_words(invoice_factory, tmp_path):
    text = text_of(invoice_factory(), tmp_path)
    for line in (
        "Balance on your last bill ₹0.00",
        "Payments since your last bill ₹0.00",
        "This bill ₹1,268.50",
        "Total for this bill ₹1,268.50",
        "18% GST ₹193.50",
    ):
        assert line in text, line
    assert "Amount due ₹1,268.50" in text
    assert "Rupees one thousand, two hundred and sixty-eight and fifty paise only" in flat(text)
    assert "Adjustments and surcharges" not in text
    assert "Tax at" not in text


def test_the_next_bill_carries_the_balance_less_the_payment(invoice_factory, tmp_path):
    january = invoice_factory(month=date(2025, 1, 1))
    payment_record(
        account=january.account, amount=Decimal("1000.00"), method="upi", received_on=date(2025, 2, 10), reference="U1"
    )
    february = invoice_factory(month=date(2025, 2, 1))
    assert (february.previous_balance, february.payments_since, february.amount_due) == (
        Decimal("1268.50"),
        Decimal("1000.00"),
        Decimal("1537.00"),
    )
    text = text_of(february, tmp_path)
    for line in (
        "Balance on your last bill ₹1,268.50",
        "Payments since your last bill -₹1,000.00",
        "This bill ₹1,268.50",
        "Amount due ₹1,537.00",
        f"Due date {february.due_date:%-d %b %Y}",
    ):
        assert line in text, line
    assert "Rupees one thousand, five hundred and thirty-seven only" in flat(text)
    assert "Please pay ₹1,537.00" in flat(text)
    assert "Adjustments and surcharges" not in text


def test_a_surcharge_between_bills_is_its_own_line(invoice_factory, tmp_path):
    january = invoice_factory(month=date(2025, 1, 1))
    note_issue(
        kind="debit",
        reason="late_payment",
        amount=Decimal("19.03"),
        description="Late-payment surcharge",
        account=january.account,
    )
    february = invoice_factory(month=date(2025, 2, 1))
    text = text_of(february, tmp_path)
    assert "Adjustments and surcharges ₹19.03" in text
    assert "Amount due ₹2,556.03" in text  # 1,268.50 + 19.03 + 1,268.50


def test_a_payment_beyond_what_was_owed_leaves_credit_in_the_customers_favour_and_no_qr_code(invoice_factory, tmp_path):
    january = invoice_factory(month=date(2025, 1, 1))
    payment_record(account=january.account, amount=Decimal("3000.00"), method="cash", received_on=date(2025, 2, 3))
    february = invoice_factory(month=date(2025, 2, 1))
    text = text_of(february, tmp_path)
    assert "Credit in your favour ₹463.00" in text  # 1,268.50 - 3,000.00 + 1,268.50
    assert "Credit of rupees four hundred and sixty-three only" in flat(text)
    assert "Amount due" not in text
    assert "Scan to pay" not in text
    assert images_of(february) == []


def test_a_bill_issued_before_accounts_were_kept_prints_only_its_own_total(invoice_factory, tmp_path):
    invoice = invoice_factory()
    invoice.previous_balance = invoice.payments_since = invoice.amount_due = None
    text = text_of(invoice, tmp_path)
    assert "Your account" not in text
    assert "Balance on your last bill" not in text
    assert "Total due ₹1,268.50" in text
    assert "Please pay ₹1,268.50" in flat(text)
    assert "₹1,268.50 · " + invoice.number in flat(text)  # the QR code asks for this bill's total


def test_the_tax_line_is_named_by_the_tariff(device, tmp_path):
    TariffFactory(tax_rate="0.05", tax_label="Electricity duty")
    invoice = InvoiceFactory(device=device)
    assert invoice.tax_label == "Electricity duty"
    text = text_of(invoice, tmp_path)
    assert "5% Electricity duty ₹53.75" in text  # 5% of 1,025.00 + 50.00
    assert "GST" not in text


def test_the_upi_qr_code_asks_for_the_amount_due_with_the_invoice_number(invoice_factory, tmp_path):
    invoice = invoice_factory()
    text = text_of(invoice, tmp_path)
    assert "Scan to pay with any UPI app" in text
    assert f"UPI {VPA}" in text
    (image,) = images_of(invoice)
    expected = upi_payment_uri(vpa=VPA, payee="Bengaluru Power & Light", amount=Decimal("1268.50"), note=invoice.number)
    assert expected == (
        f"upi://pay?pa={VPA}&pn=Bengaluru%20Power%20%26%20Light&am=1268.50&cu=INR"
        f"&tn={invoice.number}&tr={invoice.number}"
    )
    assert same_pixels(image, Image.open(io.BytesIO(upi_qr_png(expected))))


def test_no_qr_code_without_a_upi_address_or_once_paid(invoice_factory, settings, tmp_path):
    invoice = invoice_factory()
    settings.UTILITY_UPI_VPA = ""
    assert images_of(invoice) == []
    assert "UPI" not in text_of(invoice, tmp_path)
    settings.UTILITY_UPI_VPA = VPA
    paid = invoice_factory(month=date(2025, 2, 1), status="paid", paid_date=date(2025, 3, 1))
    assert images_of(paid) == []


def test_the_chart_shows_the_last_twelve_months_of_use(invoice_factory, tmp_path):
    month = date(2024, 1, 1)
    invoices = []
    for index in range(13):  # Jan 2024 .. Jan 2025: 200, 211, ... 332 kWh; June 2024 estimated
        invoices.append(
            invoice_factory(month=month, energy_kwh=str(200 + 11 * index), estimated=month == date(2024, 6, 1))
        )
        month = next_month(month)
    text = pdf_text(render_invoice_pdf(invoices[-1]), tmp_path)
    chart = text.split("month by month (kWh)", 1)[1].split("This bill", 1)[0].split()
    labels = sorted(word for word in chart if word.isdigit() and len(word) == 3)  # taller bars' labels print higher
    assert labels == [str(200 + 11 * i) for i in range(1, 13)]
    months = [word for word in chart if word.isalpha()]
    assert months == ["Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan"]
    assert "2024" in chart  # the first column and January carry their year
    assert "2025" in chart
    assert "Estimated (no meter reading)" in flat(text)


def test_a_plain_months_invoice_fits_one_page(invoice_factory, device):
    device.location = "House 12, 4th Cross, Jayanagar, Bengaluru 560041"
    device.save()
    january = invoice_factory(month=date(2025, 1, 1))
    payment_record(account=january.account, amount=Decimal("500.00"), method="upi", received_on=date(2025, 2, 3))
    note_issue(kind="debit", reason="late_payment", amount=Decimal("10.00"), description="x", account=january.account)
    february = invoice_factory(month=date(2025, 2, 1))
    assert len(PdfReader(io.BytesIO(render_invoice_pdf(february))).pages) == 1
