"""Number formats shared by every page (readings.formatting): pure functions, no database."""

from decimal import Decimal

import pytest

from billing.templatetags.billing_format import inr
from dashboard.templatetags.dashboard_format import rupees
from readings.formatting import format_grouped, format_power, group_indian


def test_digit_grouping_in_lakhs_and_crores():
    assert group_indian("1") == "1"
    assert group_indian("100000") == "1,00,000"
    assert group_indian("10000000") == "1,00,00,000"


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        ("106259", 2, "1,06,259.00"),
        ("-1234.565", 2, "-1,234.57"),
        (999.5, 0, "1,000"),
        ("not a number", 2, ""),
        ("NaN", 2, ""),
    ],
)
def test_grouped_numbers_round_half_up(value, places, text):
    assert format_grouped(value, places) == text


def test_power_reads_in_watts_then_kilowatts_with_the_same_grouping():
    assert format_power(950.4) == "950 W"
    assert format_power(1234.5) == "1.23 kW"
    assert format_power(123456789.0) == "1,23,456.79 kW"
    assert format_power(None) == "–"


def test_invoices_and_customer_pages_group_rupees_the_same_way():
    amount = Decimal("12345678.9")
    assert inr(amount) == rupees(amount) == "₹1,23,45,678.90"
