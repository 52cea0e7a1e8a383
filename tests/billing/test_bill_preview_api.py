"""GET /api/billing/<device_id>?month=YYYY-MM: the bill preview in the seed's shape, from real readings."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.months import month_containing, next_month
from billing.selectors import bill_estimate
from billing.zone import billing_zone
from tests.factories import TariffFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db


@pytest.fixture
def january(device, seed_tariff):
    write_registers("meter-001", [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 20), "1180"), (ist(2025, 2, 1), "1250")])


def users(customer, other_customer, staff):
    return {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 404), ("staff", 200)])
def test_bill_preview_permissions(api, january, customer, other_customer, staff, who, expected):
    response = api(users(customer, other_customer, staff)[who]).get("/api/billing/meter-001?month=2025-01")
    assert response.status_code == expected
    assert ("total" in response.json()) is (expected == 200)


def test_bill_preview_has_the_seed_shape_and_the_worked_example(api, customer, january):
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert body["device_id"] == "meter-001"
    assert body["month"] == "2025-01"
    assert body["energy_kwh"] == "250.000"
    assert body["units_slab_0_100"] == {"units": "100.000", "rate": "3.50", "charge": "350.00"}
    assert body["units_slab_101_300"] == {"units": "150.000", "rate": "4.50", "charge": "675.00"}
    assert body["units_slab_301_plus"] == {"units": "0.000", "rate": "6.00", "charge": "0.00"}
    assert [row["slab"] for row in body["slabs"]] == ["0-100", "101-300", "301+"]
    assert body["slabs"][1] == {
        "slab": "101-300",
        "range_start": 101,
        "range_end": 300,
        "units": "150.000",
        "rate": "4.50",
        "charge": "675.00",
    }
    assert (body["subtotal"], body["fixed_charge"], body["tax"], body["total"]) == (
        "1025.00",
        "50.00",
        "193.50",
        "1268.50",
    )
    assert body["no_readings"] is False
    assert body["readings"] == {
        "start_register": "1000.000",
        "end_register": "1250.000",
        "count": 2,
        "register_resets": 0,
    }
    assert body["period"] == {"start": "2025-01-01T00:00:00+05:30", "end": "2025-02-01T00:00:00+05:30"}
    assert body["month_complete"] is True
    assert body["invoice_id"] is None


@pytest.mark.parametrize("month", ["2025-1", "2025-13", "January", "2025-01-01", "1999-12", "２０２５-01", "2025-01x"])
def test_a_malformed_month_is_a_400(api, customer, january, month):
    response = api(customer).get(f"/api/billing/meter-001?month={month}")
    assert response.status_code == 400
    assert response.json()["month"]
    assert "month" in response.json()["detail"]


def test_a_month_in_the_future_is_a_400(api, customer, january):
    future = next_month(month_containing(timezone.now(), billing_zone()))
    response = api(customer).get(f"/api/billing/meter-001?month={future:%Y-%m}")
    assert response.status_code == 400
    assert "in the future" in response.json()["detail"]


def test_the_current_month_previews_the_bill_so_far(api, customer, device, seed_tariff):
    now = timezone.now()
    write_registers("meter-001", [(now - timedelta(minutes=30), "100"), (now - timedelta(minutes=1), "101.5")])
    body = api(customer).get("/api/billing/meter-001").json()
    assert body["month"] == f"{month_containing(now, billing_zone()):%Y-%m}"
    assert body["month_complete"] is False
    assert Decimal(body["energy_kwh"]) == Decimal("1.500")


def test_a_meter_with_no_readings_previews_the_fixed_charge_only(api, customer, device, seed_tariff):
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert body["no_readings"] is True
    assert body["energy_kwh"] == "0.000"
    assert body["total"] == "59.00"


def test_without_a_tariff_for_the_month_the_preview_says_so(api, customer, device):
    TariffFactory(fixed_charge="50", effective_from=date(2025, 6, 1))
    response = api(customer).get("/api/billing/meter-001?month=2025-01")
    assert response.status_code == 409
    assert response.json()["detail"] == "No tariff is in force for 2025-01. Staff must add a tariff version first."


def test_an_invoiced_month_shows_the_invoice_even_after_the_tariff_changes(api, customer, staff, january):
    from billing.services import billing_run

    billing_run(month=date(2025, 1, 1))
    TariffFactory(fixed_charge="80", effective_from=date(2025, 2, 1))
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert body["total"] == "1268.50"
    assert body["invoice_id"] == Invoice.objects.get(device__owner=customer, month=date(2025, 1, 1)).number
    february = api(customer).get("/api/billing/meter-001?month=2025-02").json()
    assert february["fixed_charge"] == "80.00"


def test_the_dashboard_estimate_projects_the_month_so_far_to_its_end(device, seed_tariff):
    now = ist(2025, 1, 11)  # 10 of January's 31 days gone
    write_registers("meter-001", [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 6), "1050"), (ist(2025, 1, 11), "1100")])
    estimate = bill_estimate(device=device, now=now)
    assert estimate.month == date(2025, 1, 1)
    assert estimate.consumption_kwh == Decimal("100.000")
    assert estimate.projected_kwh == Decimal("310.000")
    assert estimate.projected_bill.total == calculate_total("310")


def calculate_total(energy):
    from billing.calculation import calculate_bill
    from billing.selectors import tariff_for_month

    return calculate_bill(Decimal(energy), tariff_for_month(month=date(2025, 1, 1)).terms()).total
