"""The bill arithmetic and tariff validation: pure functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calculation import (
    Slab,
    TariffInvalid,
    TariffTerms,
    calculate_bill,
    round_money,
    scale_energy,
    slab_units,
    validate_tariff,
)
from billing.templatetags.billing_format import format_inr

D = Decimal

SEED_TERMS = TariffTerms(
    slabs=(Slab(0, 100, D("3.50")), Slab(101, 300, D("4.50")), Slab(301, None, D("6.00"))),
    fixed_charge=D("50.00"),
    tax_rate=D("0.18"),
)
SEED_SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]


def test_worked_example_250_kwh_bills_exactly_1268_50():
    bill = calculate_bill(D("250"), SEED_TERMS)
    assert [line.charge for line in bill.lines] == [D("350.00"), D("675.00"), D("0.00")]
    assert [line.units for line in bill.lines] == [D("100"), D("150.000"), D("0")]
    assert bill.subtotal == D("1025.00")
    assert bill.fixed_charge == D("50.00")
    assert bill.tax == D("193.50")
    assert bill.total == D("1268.50")
    assert str(bill.total) == "1268.50"


@pytest.mark.parametrize(
    ("energy", "units", "subtotal", "total"),
    [
        ("0", ["0", "0", "0"], "0.00", "59.00"),
        ("100", ["100", "0", "0"], "350.00", "472.00"),
        ("100.5", ["100", "0.5", "0"], "352.25", "474.66"),
        ("101", ["100", "1", "0"], "354.50", "477.31"),
        ("300", ["100", "200", "0"], "1250.00", "1534.00"),
        ("301", ["100", "200", "1"], "1256.00", "1541.08"),
    ],
)
def test_slab_boundaries(energy, units, subtotal, total):
    bill = calculate_bill(D(energy), SEED_TERMS)
    assert [line.units for line in bill.lines] == [D(u) for u in units]
    assert bill.subtotal == D(subtotal)
    assert bill.total == D(total)


def test_each_charge_line_tax_and_total_round_half_up_to_the_paisa():
    # 0.5 kWh x 0.05 = 0.025 and 0.10 x 0.25 = 0.025: half-up gives 0.03 where banker's rounding gives 0.02.
    terms = TariffTerms(slabs=(Slab(0, None, D("0.05")),), fixed_charge=D("0.10"), tax_rate=D("0.25"))
    bill = calculate_bill(D("0.5"), terms)
    assert bill.lines[0].charge == D("0.03")
    assert bill.tax == D("0.03")  # (0.03 + 0.10) x 0.25 = 0.0325
    assert calculate_bill(D("0"), terms).tax == D("0.03")  # 0.10 x 0.25 = 0.025
    assert round_money(D("2.665")) == D("2.67")
    assert round_money(D("2.6649")) == D("2.66")


def test_energy_is_billed_to_the_watt_hour():
    bill = calculate_bill(D("100.0004"), SEED_TERMS)
    assert bill.energy_kwh == D("100.000")
    assert bill.lines[1].units == D("0")
    assert calculate_bill(D("100.0005"), SEED_TERMS).lines[1].units == D("0.001")


def test_negative_consumption_is_refused():
    with pytest.raises(ValueError, match="negative"):
        slab_units(D("-1"), SEED_TERMS.slabs)


def test_slab_keys_and_labels_follow_the_seed():
    assert [slab.key for slab in SEED_TERMS.slabs] == ["units_slab_0_100", "units_slab_101_300", "units_slab_301_plus"]
    assert [slab.label for slab in SEED_TERMS.slabs] == ["0-100", "101-300", "301+"]


# --- Validation --------------------------------------------------------------


def test_the_seed_tariff_is_valid():
    terms = validate_tariff(slabs=SEED_SLABS, fixed_charge=50, tax_rate=0.18)
    assert terms == SEED_TERMS


def test_a_float_rate_is_read_through_its_decimal_text():
    terms = validate_tariff(slabs=[{"range_start": 0, "range_end": None, "rate": 4.55}], fixed_charge=0, tax_rate=0)
    assert terms.slabs[0].rate == D("4.55")


def _problems(**overrides):
    arguments = {"slabs": SEED_SLABS, "fixed_charge": "50", "tax_rate": "0.18", **overrides}
    with pytest.raises(TariffInvalid) as caught:
        validate_tariff(**arguments)
    return caught.value.problems


@pytest.mark.parametrize(
    ("slabs", "message"),
    [
        ([], "At least one slab is required"),
        ([{"range_start": 5, "range_end": None, "rate": "1"}], "Slab 1 must start at 0"),
        (
            [{"range_start": 0, "range_end": 100, "rate": "1"}, {"range_start": 102, "range_end": None, "rate": "2"}],
            "Slab 2 starts at 102: a gap after slab 1, which ends at 100; it must start at 101.",
        ),
        (
            [{"range_start": 0, "range_end": 100, "rate": "1"}, {"range_start": 50, "range_end": None, "rate": "2"}],
            "Slab 2 starts at 50: it overlaps slab 1",
        ),
        (
            [{"range_start": 0, "range_end": 100, "rate": "1"}, {"range_start": 100, "range_end": None, "rate": "2"}],
            "it overlaps slab 1",
        ),
        (
            [{"range_start": 0, "range_end": 100, "rate": "1"}, {"range_start": 101, "range_end": 200, "rate": "2"}],
            "The last slab must be open-ended",
        ),
        (
            [{"range_start": 0, "range_end": None, "rate": "1"}, {"range_start": 101, "range_end": None, "rate": "2"}],
            "only the last slab may be",
        ),
        ([{"range_start": 0, "range_end": None, "rate": "-1"}], "Slab 1's rate must not be negative"),
        ([{"range_start": 0, "range_end": None, "rate": "3.555"}], "Slab 1's rate must have at most 2 decimal places"),
        ([{"range_start": 0, "range_end": None, "rate": "abc"}], "Slab 1's rate must be a number"),
        ([{"range_start": 0, "range_end": None}], "Slab 1 is missing rate"),
        (
            [{"range_start": 0, "range_end": 100.5, "rate": "1"}, {"range_start": 101, "range_end": None, "rate": "1"}],
            "range_end must be a whole number of kWh",
        ),
        (
            [{"range_start": 0, "range_end": 100, "rate": "1"}, {"range_start": 101, "range_end": 90, "rate": "1"}],
            "ends at 90, before it starts (101)",
        ),
        (["0-100"], "must be an object"),
    ],
)
def test_each_slab_problem_is_named(slabs, message):
    problems = _problems(slabs=slabs)
    assert any(message in text for text in problems["slabs"]), problems


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tax_rate", "1.5", "between 0 and 1"),
        ("tax_rate", "-0.1", "between 0 and 1"),
        ("tax_rate", "eighteen", "must be a number"),
        ("tax_rate", "0.123456", "at most 4 decimal places"),
        ("fixed_charge", "-5", "must not be negative"),
        ("fixed_charge", "50.001", "at most 2 decimal places"),
        ("fixed_charge", None, "must be a number"),
        ("fixed_charge", "NaN", "must be a number"),
    ],
)
def test_each_amount_problem_is_named(field, value, message):
    problems = _problems(**{field: value})
    assert list(problems) == [field]
    assert message in problems[field][0]


def test_every_problem_is_reported_at_once():
    problems = _problems(slabs=[{"range_start": 3, "range_end": None, "rate": "-1"}], fixed_charge="x", tax_rate="2")
    assert set(problems) == {"slabs", "fixed_charge", "tax_rate"}
    assert len(problems["slabs"]) == 2


# --- Properties --------------------------------------------------------------

energies = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def tariffs(draw):
    widths = draw(st.lists(st.integers(min_value=1, max_value=500), min_size=0, max_size=5))
    slabs, end = [], 0
    for index, width in enumerate(widths):
        start = 0 if index == 0 else end + 1
        end = end + width
        slabs.append(Slab(start, end, draw(rates)))
    slabs.append(Slab(0 if not slabs else end + 1, None, draw(rates)))
    return TariffTerms(
        slabs=tuple(slabs),
        fixed_charge=draw(rates),
        tax_rate=draw(st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)),
    )


@settings(max_examples=300, deadline=None)
@given(terms=tariffs(), energy=energies)
def test_slab_units_always_sum_to_the_consumption(terms, energy):
    bill = calculate_bill(energy, terms)
    assert sum(line.units for line in bill.lines) == bill.energy_kwh == energy
    assert all(line.units >= 0 for line in bill.lines)


@settings(max_examples=300, deadline=None)
@given(terms=tariffs(), low=energies, high=energies)
def test_the_total_never_falls_as_consumption_rises(terms, low, high):
    low, high = sorted((low, high))
    assert calculate_bill(low, terms).total <= calculate_bill(high, terms).total


@settings(max_examples=200, deadline=None)
@given(terms=tariffs())
def test_a_month_without_consumption_bills_the_fixed_charge_and_its_tax_only(terms):
    bill = calculate_bill(D("0"), terms)
    assert bill.subtotal == D("0.00")
    assert bill.total == round_money(terms.fixed_charge + round_money(terms.fixed_charge * terms.tax_rate))


@settings(max_examples=200, deadline=None)
@given(terms=tariffs(), energy=energies)
def test_every_amount_is_in_whole_paise_and_adds_up(terms, energy):
    bill = calculate_bill(energy, terms)
    for amount in (*[line.charge for line in bill.lines], bill.subtotal, bill.tax, bill.total):
        assert amount == amount.quantize(D("0.01"))
    assert bill.total == bill.subtotal + bill.fixed_charge + bill.tax


@settings(max_examples=200, deadline=None)
@given(terms=tariffs())
def test_generated_tariffs_pass_validation_unchanged(terms):
    raw = [{"range_start": s.range_start, "range_end": s.range_end, "rate": str(s.rate)} for s in terms.slabs]
    assert validate_tariff(slabs=raw, fixed_charge=str(terms.fixed_charge), tax_rate=str(terms.tax_rate)) == terms


# --- Estimates and formatting ---------------------------------------------------


def test_a_part_month_is_extrapolated_linearly_and_never_scaled_down():
    assert scale_energy(D("10"), elapsed_seconds=10 * 86400, period_seconds=30 * 86400) == D("30.000")
    assert scale_energy(D("10"), elapsed_seconds=40, period_seconds=30) == D("10.000")
    assert scale_energy(D("10"), elapsed_seconds=0, period_seconds=30) == D("0")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1268.5", "₹1,268.50"),
        ("0", "₹0.00"),
        ("999.995", "₹1,000.00"),
        ("123456.78", "₹1,23,456.78"),
        ("12345678", "₹1,23,45,678.00"),
    ],
)
def test_rupee_amounts_use_indian_digit_grouping(value, text):
    assert format_inr(D(value)) == text
