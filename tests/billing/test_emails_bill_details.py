"""The invoice email of an estimated bill says so in its subject and body, and explains an adjustment and credit;
every bill gives the account summary, its tax line by name and the UPI address."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from billing import emails
from billing.services.payments import payment_record

pytestmark = pytest.mark.django_db

ADJUSTMENT = (
    "Your January bill was estimated at 120 kWh; the actual reading shows 104 kWh, so this bill takes off ₹80.50."
)


def test_an_estimated_bill_with_an_adjustment_says_so_in_subject_and_body(invoice_factory):
    invoice = invoice_factory(month=date(2025, 2, 1), estimate=True, adjusted=True, credited=True)
    emails.send_invoice_issued(invoice, pdf=b"%PDF-")
    (message,) = mail.outbox
    assert message.subject.startswith("Your estimated electricity bill for February 2025: ₹1,088.00 due ")
    text = message.body
    html = message.alternatives[0][0]
    for body in (text, html):
        assert "estimated" in body
        assert "No meter reading reached us by" in body
        assert "estimated from your average daily use over the last 90 days" in body
        assert ADJUSTMENT in body
        assert "₹100.00 of credit from earlier bills is taken off this bill." in body
        assert "-₹80.50" in body
        assert "-₹100.00" in body
    assert "Adjustment:      -₹80.50 (earlier estimated bills)" in text
    assert "Adjustment for earlier estimated bills" in html


def test_a_plain_bills_email_mentions_no_estimate_or_adjustment(invoice_factory):
    emails.send_invoice_issued(invoice_factory(), pdf=b"%PDF-")
    (message,) = mail.outbox
    assert message.subject.startswith("Your electricity bill for January 2025: ₹1,268.50 due ")
    for body in (message.body, message.alternatives[0][0]):
        assert "estimated" not in body.lower()
        assert "Adjustment" not in body
        assert "credit" not in body.lower()


def test_the_email_gives_the_account_summary_the_tax_line_and_the_upi_address(invoice_factory, settings):
    settings.UTILITY_UPI_VPA = "bills@examplebank"
    january = invoice_factory(month=date(2025, 1, 1))
    payment_record(account=january.account, amount=Decimal("1000.00"), method="cash", received_on=date(2025, 2, 3))
    february = invoice_factory(month=date(2025, 2, 1))
    mail.outbox.clear()
    emails.send_invoice_issued(february, pdf=b"%PDF-")
    (message,) = mail.outbox
    assert message.subject.startswith("Your electricity bill for February 2025: ₹1,537.00 due ")
    text, html = message.body, message.alternatives[0][0]
    for line in (
        f"Consumer number: {february.consumer_number}",
        "18% GST:         ₹193.50",
        "This bill:       ₹1,268.50",
        "Balance on your last bill:     ₹1,268.50",
        "Payments since your last bill: -₹1,000.00",
        "Amount due:                    ₹1,537.00",
        "(Rupees one thousand, five hundred and thirty-seven only)",
        "or pay ₹1,537.00 to bills@examplebank.",
    ):
        assert line in text, line
    for phrase in ("18% GST", "Amount due", "₹1,537.00", "<strong>bills@examplebank</strong>", "Payments since"):
        assert phrase in html, phrase
    settings.UTILITY_UPI_VPA = ""
    mail.outbox.clear()
    emails.send_invoice_issued(february, pdf=b"%PDF-")
    assert "UPI" not in mail.outbox[0].body
