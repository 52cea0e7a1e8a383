"""Slab style, fixed charge per kW and the minimum charge: pure arithmetic, the examples of docs/billing.md."""

from dataclasses import replace
from decimal import Decimal

import pytest

from billing.calculation import (
    NON_TELESCOPIC,
    PER_KW,
    BillPart,
    Slab,
    TariffInvalid,
    TariffTerms,
    adjustment_amount,
    calculate_bill,
    calculate_split_bill,
    validate_tariff,
)

D = Decimal

SEED_TERMS = TariffTerms(
    slabs=(Slab(0, 100, D("3.50")), Slab(101, 300, D("4.50")), Slab(301, None, D("6.00"))),
    fixed_charge=D("50.00"),
    tax_rate=D("0.18"),
)
NON_TELESCOPIC_TERMS = replace(SEED_TERMS, slab_style=NON_TELESCOPIC)
PER_KW_TERMS = replace(SEED_TERMS, fixed_charge=D("40.00"), fixed_charge_basis=PER_KW)
MINIMUM_TERMS = replace(SEED_TERMS, minimum_charge=D("150.00"))
SEED_SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]


def test_the_defaults_keep_the_worked_example():
    bill = calculate_bill(D("250"), SEED_TERMS, sanctioned_load_kw=D("5.00"))
    assert (bill.subtotal, bill.fixed_charge, bill.minimum_top_up, bill.tax, bill.total) == (
        D("1025.00"),
        D("50.00"),
        D("0.00"),
        D("193.50"),
        D("1268.50"),
    )
    assert bill.fixed_charge_kw is None
    assert bill.minimum_charge is None


# --- Slab style ------------------------------------------------------------------


def test_non_telescopic_worked_example_bills_all_250_units_at_the_second_slab():
    bill = calculate_bill(D("250"), NON_TELESCOPIC_TERMS)
    assert [line.units for line in bill.lines] == [D("0"), D("250.000"), D("0")]
    assert [line.charge for line in bill.lines] == [D("0.00"), D("1125.00"), D("0.00")]
    assert (bill.subtotal, bill.fixed_charge, bill.tax, bill.total) == (
        D("1125.00"),
        D("50.00"),
        D("211.50"),
        D("1386.50"),
    )
    assert bill.slab_style == NON_TELESCOPIC


@pytest.mark.parametrize(
    ("energy", "slab", "subtotal"),
    [
        ("0", 0, "0.00"),
        ("100", 0, "350.00"),  # exactly on the first slab's limit: still the first slab
        ("100.001", 1, "450.00"),  # 100.001 × 4.50 = 450.0045
        ("100.5", 1, "452.25"),
        ("300", 1, "1350.00"),
        ("301", 2, "1806.00"),
    ],
)
def test_non_telescopic_total_on_and_past_a_slab_boundary(energy, slab, subtotal):
    bill = calculate_bill(D(energy), NON_TELESCOPIC_TERMS)
    assert [index for index, line in enumerate(bill.lines) if line.units] == ([slab] if D(energy) else [])
    assert bill.subtotal == D(subtotal)


def test_non_telescopic_part_of_a_month_scales_the_slab_limits():
    # Half a month: the slabs end at 50 and 150, so 120 kWh falls in the second one.
    bill = calculate_bill(D("120"), NON_TELESCOPIC_TERMS, slab_share=D("0.5"), fixed_share=D("0.5"))
    assert bill.subtotal == D("540.00")
    assert bill.fixed_charge == D("25.00")


def test_non_telescopic_refuses_a_negative_consumption():
    with pytest.raises(ValueError, match="negative"):
        calculate_bill(D("-1"), NON_TELESCOPIC_TERMS)


def test_an_adjustment_prices_the_actual_energy_by_the_slab_style():
    # Estimated 250 kWh (1125.00 non-telescopic); actual 90 kWh: 315.00. Difference -810.00, with tax -955.80.
    assert adjustment_amount(actual_kwh=D("90"), billed_subtotal=D("1125.00"), terms=NON_TELESCOPIC_TERMS) == D(
        "-955.80"
    )


# --- Fixed charge per kW -------------------------------------------------------------


def test_per_kw_worked_example_5_kw_at_40():
    bill = calculate_bill(D("250"), PER_KW_TERMS, sanctioned_load_kw=D("5.00"))
    assert bill.fixed_charge == D("200.00")
    assert (bill.fixed_charge_kw, bill.fixed_charge_rate) == (D("5.00"), D("40.00"))
    assert (bill.subtotal, bill.tax, bill.total) == (D("1025.00"), D("220.50"), D("1445.50"))


@pytest.mark.parametrize(
    ("load_kw", "rate", "fixed"),
    [
        ("2.75", "40.00", "110.00"),
        ("1.33", "45.50", "60.52"),  # 60.515, rounded half up once, after multiplying
        ("0.01", "40.00", "0.40"),
    ],
)
def test_per_kw_with_a_fractional_load(load_kw, rate, fixed):
    terms = replace(PER_KW_TERMS, fixed_charge=D(rate))
    assert calculate_bill(D("0"), terms, sanctioned_load_kw=D(load_kw)).fixed_charge == D(fixed)


def test_per_kw_prorated_for_part_of_a_month():
    bill = calculate_bill(D("0"), PER_KW_TERMS, sanctioned_load_kw=D("5.00"), fixed_share=D("0.5"))
    assert bill.fixed_charge == D("100.00")


def test_per_kw_needs_the_sanctioned_load():
    with pytest.raises(ValueError, match="sanctioned load"):
        calculate_bill(D("250"), PER_KW_TERMS)


def test_an_adjustment_under_a_per_kw_tariff_needs_no_load():
    assert adjustment_amount(actual_kwh=D("100"), billed_subtotal=D("350.00"), terms=PER_KW_TERMS) == D("0.00")


# --- Minimum charge -----------------------------------------------------------------


def test_minimum_charge_worked_example_tops_up_before_tax():
    # 20 kWh: 70.00 energy + 50.00 fixed = 120.00, topped up by 30.00 to 150.00; tax 27.00 on 150.00.
    bill = calculate_bill(D("20"), MINIMUM_TERMS)
    assert (bill.subtotal, bill.fixed_charge, bill.minimum_top_up, bill.tax, bill.total) == (
        D("70.00"),
        D("50.00"),
        D("30.00"),
        D("27.00"),
        D("177.00"),
    )


def test_zero_consumption_pays_the_minimum_with_tax():
    bill = calculate_bill(D("0"), MINIMUM_TERMS)
    assert (bill.minimum_top_up, bill.tax, bill.total) == (D("100.00"), D("27.00"), D("177.00"))


def test_charges_exactly_at_the_minimum_need_no_top_up():
    bill = calculate_bill(D("100"), replace(SEED_TERMS, minimum_charge=D("400.00")))
    assert bill.minimum_top_up == D("0.00")
    assert bill.total == D("472.00")


def test_charges_above_the_minimum_are_untouched():
    assert calculate_bill(D("250"), MINIMUM_TERMS).total == D("1268.50")


def test_the_minimum_counts_a_per_kw_fixed_charge():
    terms = replace(PER_KW_TERMS, minimum_charge=D("300.00"))
    bill = calculate_bill(D("10"), terms, sanctioned_load_kw=D("5.00"))  # 35.00 + 200.00 = 235.00
    assert (bill.minimum_top_up, bill.tax, bill.total) == (D("65.00"), D("54.00"), D("354.00"))


def test_a_split_month_prorates_each_part_s_minimum_like_its_fixed_charge():
    part = BillPart(energy_kwh=D("0"), terms=MINIMUM_TERMS, slab_share=D("0.5"), fixed_share=D("0.5"))
    whole, parts = calculate_split_bill([part, part])
    assert [(bill.minimum_charge, bill.minimum_top_up) for bill in parts] == [(D("75.00"), D("50.00"))] * 2
    assert (whole.minimum_charge, whole.minimum_top_up, whole.total) == (D("150.00"), D("100.00"), D("177.00"))


# --- Validation ---------------------------------------------------------------------


def test_validation_keeps_the_new_terms():
    terms = validate_tariff(
        slabs=SEED_SLABS,
        fixed_charge="40",
        tax_rate="0.18",
        slab_style="non_telescopic",
        fixed_charge_basis="per_kw",
        minimum_charge="150.00",
    )
    assert (terms.slab_style, terms.fixed_charge_basis, terms.minimum_charge) == (
        NON_TELESCOPIC,
        PER_KW,
        D("150.00"),
    )


def test_validation_defaults_to_today_s_rules():
    terms = validate_tariff(slabs=SEED_SLABS, fixed_charge="50", tax_rate="0.18")
    assert terms == replace(SEED_TERMS, fixed_charge=D("50"))


def test_an_empty_minimum_charge_means_none():
    terms = validate_tariff(slabs=SEED_SLABS, fixed_charge="50", tax_rate="0.18", minimum_charge="")
    assert terms.minimum_charge is None


def test_validation_names_each_bad_new_term():
    with pytest.raises(TariffInvalid) as caught:
        validate_tariff(
            slabs=SEED_SLABS,
            fixed_charge="50",
            tax_rate="0.18",
            slab_style="stepped",
            fixed_charge_basis="per_kva",
            minimum_charge="-1.005",
        )
    problems = caught.value.problems
    assert problems["slab_style"] == ["The slab style must be one of telescopic, non_telescopic."]
    assert problems["fixed_charge_basis"] == ["The fixed-charge basis must be one of per_connection, per_kw."]
    assert problems["minimum_charge"] == [
        "The minimum charge must not be negative.",
        "The minimum charge must have at most 2 decimal places.",
    ]
