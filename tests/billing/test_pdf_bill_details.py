"""The invoice PDF of an estimated bill, an adjustment, credit, a split month and a part-month fixed charge,
read back with pdftotext; a plain month's PDF says none of it."""

from datetime import date
from decimal import Decimal

import pytest

from billing.services import invoice_pdf_bytes
from billing.zone import billing_zone
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db


def lines_of(invoice, tmp_path) -> list[str]:
    text = pdf_text(invoice_pdf_bytes(invoice=invoice), tmp_path)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def joined(lines) -> str:
    return " ".join(lines)


def test_a_plain_month_has_no_estimate_adjustment_credit_or_parts(invoice_factory, tmp_path):
    text = joined(lines_of(invoice_factory(), tmp_path))
    for absent in ("ESTIMATED", "estimated", "Adjustment", "Credit", "Part 1", "days"):
        assert absent not in text, absent
    assert "Fixed charge ₹50.00" in text
    assert "Please pay ₹1,268.50" in text


@pytest.mark.parametrize(
    ("basis", "wording"),
    [
        ("trailing_90_days", "estimated from your average daily use over the last 90 days."),
        ("same_month_last_year", "estimated from your use in the same month last year."),
        ("tariff_default", "estimated from the standard monthly use the tariff sets for a connection with no history"),
    ],
)
def test_an_estimated_bill_is_marked_and_says_why(invoice_factory, tmp_path, basis, wording):
    invoice = invoice_factory(estimate=True, estimate_basis=basis)
    lines = lines_of(invoice, tmp_path)
    assert any(line.endswith("ESTIMATED") for line in lines)
    text = joined(lines)
    issued = invoice.created_at.astimezone(billing_zone()).date()
    assert f"No meter reading reached us by {issued:%-d %b %Y}; this bill is {wording}" in text
    assert "Your next bill corrects it to the actual reading." in text


def test_an_adjustment_is_listed_per_month_and_in_the_totals(invoice_factory, tmp_path):
    invoice = invoice_factory(month=date(2025, 2, 1), adjusted=True)
    lines = lines_of(invoice, tmp_path)
    assert "Adjustment for earlier estimated bills" in lines
    assert "January 2025 120 104 -16 -₹80.50" in lines
    text = joined(lines)
    assert (
        "Your January bill was estimated at 120 kWh; the actual reading shows 104 kWh, so this bill takes off ₹80.50."
        in text
    )
    assert "Adjustment for earlier estimated bills -₹80.50" in lines
    assert invoice.total == 1188  # 1268.50 - 80.50
    assert any(line.startswith("Total for this bill ₹1,188.00") for line in lines)


def test_credit_applied_and_credit_carried_forward(invoice_factory, tmp_path):
    applied = invoice_factory(month=date(2025, 1, 1), credited=True)
    lines = lines_of(applied, tmp_path)
    assert "Credit applied -₹100.00" in lines
    assert any(line.startswith("Total for this bill ₹1,168.50") for line in lines)
    assert "₹100.00 of credit from earlier bills is taken off this bill." in joined(lines)

    carried = invoice_factory(month=date(2025, 2, 1), energy_kwh="5", adjusted=True)
    lines = lines_of(carried, tmp_path)
    assert carried.total == 0
    assert carried.credit_carried == Decimal("0.85")
    assert "Credit carried forward ₹0.85" in lines
    text = joined(lines)
    assert "₹0.85 of credit is left over and will be taken off your next bill." in text
    # Nothing is charged this month; January's bill is still open, so the account still asks for it.
    assert "This bill ₹0.00" in lines
    assert "Please pay ₹1,168.50" in text


def test_a_split_month_shows_each_part(invoice_factory, tmp_path):
    lines = lines_of(invoice_factory(split=True), tmp_path)
    assert "This month is billed in 2 parts, each with its share of the slabs and of the fixed charge." in lines
    assert "Part 1: 1 Jan 2025 – 14 Jan 2025 (14 days), tariff from 1 Jan 2020: 100 kWh" in lines
    assert "Part 2: 15 Jan 2025 – 31 Jan 2025 (17 days), tariff from 15 Jan 2025: 150 kWh" in lines
    assert "0-100 45.161 ₹3.50 ₹158.06" in lines
    assert "101-300 95.161 ₹5.00 ₹475.81" in lines
    assert "Energy charges, part 1 ₹404.84" in lines
    assert "Fixed charge for 14 of 31 days ₹22.58" in lines
    assert "Fixed charge for 17 of 31 days ₹27.42" in lines
    assert any(line.startswith("Total for this bill ₹1,357.01") for line in lines)


def test_a_prorated_fixed_charge_says_for_how_many_days(invoice_factory, tmp_path):
    lines = lines_of(invoice_factory(month=date(2025, 2, 1), prorated=True, fixed_charge="21.43"), tmp_path)
    assert "Fixed charge for 12 of 28 days ₹21.43" in lines
