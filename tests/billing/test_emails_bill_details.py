"""The invoice email of an estimated bill says so in its subject and body, and explains an adjustment and credit."""

from datetime import date

import pytest
from django.core import mail

from billing import emails

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
