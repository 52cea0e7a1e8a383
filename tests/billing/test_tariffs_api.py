"""GET/POST/PUT /api/tariffs: versions, validation messages, staff-only writes, invoiced months frozen."""

import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.models import Tariff
from billing.selectors import billing_today, tariff_for_month, tariff_versions_within
from tests.factories import SEED_SLABS, TariffFactory

pytestmark = pytest.mark.django_db

FIRST = {"range_start": 0, "range_end": 100, "rate": 1}
BODY = {"slabs": SEED_SLABS, "fixed_charge": "50.00", "tax_rate": "0.18", "effective_from": "2030-01-01"}


def users(customer, other_customer, staff):
    return {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 200), ("staff", 200)])
def test_get_tariff_permissions(api, seed_tariff, customer, other_customer, staff, who, expected):
    response = api(users(customer, other_customer, staff)[who]).get("/api/tariffs")
    assert response.status_code == expected


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 403), ("other", 403), ("staff", 201)])
def test_post_tariff_permissions(api, customer, other_customer, staff, who, expected):
    response = api(users(customer, other_customer, staff)[who]).post("/api/tariffs", BODY, format="json")
    assert response.status_code == expected
    assert Tariff.objects.count() == (1 if expected == 201 else 0)
    if expected == 403:
        assert response.json()["detail"] == "Only utility staff may change tariffs."


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 403), ("other", 403), ("staff", 200)])
def test_put_tariff_permissions(api, seed_tariff, customer, other_customer, staff, who, expected):
    response = api(users(customer, other_customer, staff)[who]).put("/api/tariffs", BODY, format="json")
    assert response.status_code == expected
    assert Tariff.objects.count() == (2 if expected == 200 else 1)


def test_get_returns_the_tariff_in_force_in_the_seed_shape(api, customer, seed_tariff):
    TariffFactory(fixed_charge="99.00", effective_from=date(2099, 1, 1))
    body = api(customer).get("/api/tariffs").json()
    assert body["effective_from"] == "2020-01-01"
    assert body["slabs"] == [
        {"range_start": 0, "range_end": 100, "rate": "3.50"},
        {"range_start": 101, "range_end": 300, "rate": "4.50"},
        {"range_start": 301, "range_end": None, "rate": "6.00"},
    ]
    assert body["fixed_charge"] == "50.00"
    assert Decimal(body["tax_rate"]) == Decimal("0.18")
    assert (body["tax_label"], Decimal(body["late_fee_rate"])) == ("GST", Decimal("0.015"))


def test_get_without_any_tariff_is_a_clear_404(api, customer):
    response = api(customer).get("/api/tariffs")
    assert response.status_code == 404
    assert response.json() == {"detail": "No tariff is in force yet."}


def test_post_creates_a_new_version_and_keeps_the_old_one(api, staff, seed_tariff):
    body = {**BODY, "fixed_charge": 60, "tax_rate": 0.18}
    response = api(staff).post("/api/tariffs", body, format="json")
    assert response.status_code == 201
    assert response.json()["fixed_charge"] == "60.00"
    assert list(Tariff.objects.values_list("effective_from", flat=True)) == [date(2030, 1, 1), date(2020, 1, 1)]
    assert tariff_for_month(month=date(2029, 12, 1)).pk == seed_tariff.pk
    assert tariff_for_month(month=date(2030, 1, 1)).fixed_charge == Decimal("60.00")


def test_post_on_a_date_that_already_has_a_version_is_a_conflict(api, staff, seed_tariff):
    response = api(staff).post("/api/tariffs", {**BODY, "effective_from": "2020-01-01"}, format="json")
    assert response.status_code == 409
    assert "already takes effect on 2020-01-01" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slabs": []}, "slabs", "At least one slab is required."),
        (
            {"slabs": [FIRST, {"range_start": 150, "range_end": None, "rate": 2}]},
            "slabs",
            "a gap after slab 1",
        ),
        (
            {"slabs": [FIRST, {"range_start": 90, "range_end": None, "rate": 2}]},
            "slabs",
            "it overlaps slab 1",
        ),
        ({"slabs": [{"range_start": 0, "range_end": None, "rate": -2}]}, "slabs", "must not be negative"),
        ({"slabs": [{"range_start": 0, "range_end": None, "rate": "1.234"}]}, "slabs", "at most 2 decimal places"),
        ({"tax_rate": 18}, "tax_rate", "between 0 and 1"),
        ({"fixed_charge": "12.345"}, "fixed_charge", "at most 2 decimal places"),
        ({"fixed_charge": True}, "fixed_charge", "Must be a number."),
        ({"effective_from": "2030-13-01"}, "effective_from", "Date has wrong format"),
        ({"slabs": "0-100"}, "slabs", "Expected a list"),
    ],
)
def test_each_invalid_tariff_is_a_400_naming_the_problem(api, staff, change, field, message):
    response = api(staff).post("/api/tariffs", {**BODY, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert message in " ".join(body[field]), body
    assert message in body["detail"]
    assert Tariff.objects.count() == 0


def test_missing_fields_are_named(api, staff):
    response = api(staff).post("/api/tariffs", {}, format="json")
    assert response.status_code == 400
    assert {"slabs", "fixed_charge", "tax_rate", "effective_from"} <= set(response.json())


def test_put_on_the_current_versions_date_replaces_it_while_nothing_is_invoiced(api, staff, seed_tariff):
    body = {**BODY, "effective_from": "2020-01-01", "fixed_charge": 40}
    response = api(staff).put("/api/tariffs", body, format="json")
    assert response.status_code == 200
    assert Tariff.objects.count() == 1
    assert Tariff.objects.get().fixed_charge == Decimal("40.00")


def test_put_from_a_later_date_keeps_the_current_version_for_the_months_before(api, staff, seed_tariff):
    today = billing_today()
    later = (today + timedelta(days=40)).replace(day=1)
    response = api(staff).put("/api/tariffs", {**BODY, "effective_from": later.isoformat()}, format="json")
    assert response.status_code == 200
    assert Tariff.objects.count() == 2
    assert tariff_for_month(month=today.replace(day=1)).pk == seed_tariff.pk


def test_put_before_the_current_versions_date_is_refused(api, staff, seed_tariff):
    response = api(staff).put("/api/tariffs", {**BODY, "effective_from": "2019-06-01"}, format="json")
    assert response.status_code == 400
    assert "on or after that date" in response.json()["effective_from"][0]


def test_a_version_used_by_invoices_is_never_changed(api, staff, seed_tariff, invoice_factory):
    invoice_factory(month=date(2025, 1, 1))
    replace = api(staff).put("/api/tariffs", {**BODY, "effective_from": "2020-01-01"}, format="json")
    assert replace.status_code == 409
    retroactive = api(staff).post("/api/tariffs", {**BODY, "effective_from": "2024-12-15"}, format="json")
    assert retroactive.status_code == 409
    assert "2025-01" in retroactive.json()["detail"]
    # A version taking effect within an invoiced month would split it: refused too.
    within = api(staff).post("/api/tariffs", {**BODY, "effective_from": "2025-01-20"}, format="json")
    assert within.status_code == 409
    assert "2025-01" in within.json()["detail"]
    # A version from the month after the last invoiced one is fine, and the invoiced month keeps its tariff.
    later = api(staff).post("/api/tariffs", {**BODY, "effective_from": "2025-02-01"}, format="json")
    assert later.status_code == 201
    assert tariff_for_month(month=date(2025, 1, 1)).pk == seed_tariff.pk
    assert tariff_versions_within(month=date(2025, 1, 1)) == []
    assert tariff_for_month(month=date(2025, 2, 1)).effective_from == date(2025, 2, 1)


def test_tariff_versions_across_a_month_boundary_bill_each_month_with_its_own(db):
    old = TariffFactory(fixed_charge="50", effective_from=date(2024, 1, 1))
    mid = TariffFactory(fixed_charge="55", effective_from=date(2024, 3, 15))
    new = TariffFactory(fixed_charge="60", effective_from=date(2024, 5, 1))
    assert tariff_for_month(month=date(2023, 12, 1)) is None
    assert tariff_for_month(month=date(2024, 3, 1)).pk == old.pk  # in force on the 1st; mid splits March
    assert [version.pk for version in tariff_versions_within(month=date(2024, 3, 1))] == [mid.pk]
    assert tariff_for_month(month=date(2024, 4, 1)).pk == mid.pk
    assert tariff_for_month(month=date(2024, 5, 1)).pk == new.pk


def test_every_tariff_change_is_audited(api, staff, seed_tariff, caplog):
    with caplog.at_level(logging.INFO, logger="smartmeter.audit"):
        api(staff).post("/api/tariffs", BODY, format="json")
        api(staff).put("/api/tariffs", {**BODY, "effective_from": "2020-01-01"}, format="json")
    actions = [(record.action, record.actor) for record in caplog.records if record.name == "smartmeter.audit"]
    assert actions == [("tariff.create", staff.email), ("tariff.replace", staff.email)]


def test_a_version_carries_its_default_estimate_and_review_ceiling(api, staff):
    body = {**BODY, "estimate_default_kwh": "120.5", "review_ceiling": "4000.00"}
    created = api(staff).post("/api/tariffs", body, format="json")
    assert created.status_code == 201
    assert (created.json()["estimate_default_kwh"], created.json()["review_ceiling"]) == ("120.500", "4000.00")
    plain = api(staff).post("/api/tariffs", {**BODY, "effective_from": "2031-01-01"}, format="json").json()
    assert (plain["estimate_default_kwh"], plain["review_ceiling"]) == ("100.000", None)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"estimate_default_kwh": -1}, "estimate_default_kwh", "must not be negative"),
        ({"estimate_default_kwh": "1.2345"}, "estimate_default_kwh", "at most 3 decimal places"),
        ({"review_ceiling": "0"}, "review_ceiling", "must be above 0"),
        ({"review_ceiling": "12.345"}, "review_ceiling", "at most 2 decimal places"),
        ({"review_ceiling": "lots"}, "review_ceiling", "must be a number"),
    ],
)
def test_a_bad_default_estimate_or_ceiling_is_a_400_naming_it(api, staff, change, field, message):
    response = api(staff).post("/api/tariffs", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert Tariff.objects.count() == 0


def test_a_version_names_its_tax_line_and_late_payment_rate(api, staff, seed_tariff):
    body = {**BODY, "tax_rate": "0.05", "tax_label": "  Electricity duty ", "late_fee_rate": "0.02"}
    created = api(staff).post("/api/tariffs", body, format="json")
    assert created.status_code == 201, created.json()
    assert (created.json()["tax_label"], created.json()["late_fee_rate"]) == ("Electricity duty", "0.0200")
    assert Tariff.objects.get(effective_from=date(2030, 1, 1)).tax_label == "Electricity duty"
    replaced = (
        api(staff)
        .put("/api/tariffs", {**BODY, "effective_from": "2020-01-01", "late_fee_rate": 0}, format="json")
        .json()
    )
    assert (replaced["tax_label"], replaced["late_fee_rate"]) == ("GST", "0.0000")  # what PUT leaves out: defaults
    assert Tariff.objects.get(effective_from=date(2020, 1, 1)).late_fee_rate == Decimal("0")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"tax_label": "   "}, "tax_label", 'The tax label must be a name such as "GST"'),
        ({"tax_label": "x" * 41}, "tax_label", "at most 40 characters"),
        ({"tax_label": None}, "tax_label", "may not be null"),
        ({"late_fee_rate": "0.11"}, "late_fee_rate", "between 0 and 0.10 a month"),
        ({"late_fee_rate": -0.01}, "late_fee_rate", "between 0 and 0.10 a month"),
        ({"late_fee_rate": "0.00125"}, "late_fee_rate", "at most 4 decimal places"),
        ({"late_fee_rate": "soon"}, "late_fee_rate", "must be a number"),
    ],
)
def test_a_bad_tax_label_or_late_payment_rate_is_a_400_naming_it(api, staff, change, field, message):
    response = api(staff).post("/api/tariffs", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()
    assert Tariff.objects.count() == 0
