"""billing.selectors.bill_estimate: the month so far, and a projected bill only when the readings justify it."""

from datetime import date
from decimal import Decimal

import pytest

from billing.projection import NO_TARIFF, READINGS_STALE, TOO_FEW_DAYS
from billing.selectors import bill_estimate
from tests.factories import DeviceFactory, TariffFactory
from tests.support.readings import ist, write_hourly, write_registers

pytestmark = pytest.mark.django_db


def test_a_new_meter_with_two_readings_an_hour_apart_gets_no_projection(device, seed_tariff):
    write_registers("meter-001", [(ist(2025, 1, 20, 10), "0"), (ist(2025, 1, 20, 11), "1.5")])
    estimate = bill_estimate(device=device, now=ist(2025, 1, 20, 11, 5))
    assert estimate.has_readings
    assert estimate.consumption_kwh == Decimal("1.500")  # backed by readings: still shown
    assert (estimate.projected_kwh, estimate.projected_bill) == (None, None)
    assert estimate.projection_held == TOO_FEW_DAYS


def test_five_days_of_readings_project_the_rest_of_the_month(device, seed_tariff):
    # A meter installed on 10 January: 5 days at 2 kWh a day, projected over its 22 days in the month.
    write_hourly("meter-001", start=ist(2025, 1, 10), hours=5 * 24 + 1, kwh_per_hour=2 / 24)
    estimate = bill_estimate(device=device, now=ist(2025, 1, 15, 0, 30))
    assert estimate.projection_held is None
    assert estimate.consumption_kwh == Decimal("10.000")
    assert estimate.projected_kwh == Decimal("44.000")
    assert estimate.projected_bill.total > 0


def test_an_established_meter_is_not_projected_in_the_first_days_of_a_month(device, seed_tariff):
    write_hourly("meter-001", start=ist(2024, 12, 20), hours=24 * 20, kwh_per_hour=0.5)
    estimate = bill_estimate(device=device, now=ist(2025, 1, 2, 12))
    assert estimate.consumption_kwh > 0
    assert estimate.projection_held == TOO_FEW_DAYS
    later = bill_estimate(device=device, now=ist(2025, 1, 4, 12))
    assert later.projection_held is None  # 3 days and 12 hours since the month began


def test_a_meter_silent_for_days_is_not_projected_from_its_old_rate(device, seed_tariff):
    write_hourly("meter-001", start=ist(2025, 1, 1), hours=24 * 4, kwh_per_hour=0.5)
    assert bill_estimate(device=device, now=ist(2025, 1, 5)).projection_held is None
    assert bill_estimate(device=device, now=ist(2025, 1, 12)).projection_held == READINGS_STALE


def test_without_a_tariff_the_energy_is_projected_but_not_priced(customer):
    TariffFactory(effective_from=date(2025, 6, 1))
    meter = DeviceFactory(device_id="meter-009", owner=customer)
    write_hourly("meter-009", start=ist(2025, 1, 1), hours=24 * 10, kwh_per_hour=0.5)
    estimate = bill_estimate(device=meter, now=ist(2025, 1, 10, 23, 30))
    assert estimate.projected_kwh is not None
    assert estimate.projected_bill is None
    assert estimate.projection_held == NO_TARIFF


def test_a_per_kw_fixed_charge_is_projected_on_the_meters_sanctioned_load(device):
    TariffFactory(fixed_charge=Decimal("40.00"), fixed_charge_basis="per_kw")
    device.sanctioned_load_kw = Decimal("3.00")
    device.save(update_fields=["sanctioned_load_kw"])
    write_hourly("meter-001", start=ist(2025, 1, 10), hours=5 * 24 + 1, kwh_per_hour=2 / 24)
    estimate = bill_estimate(device=device, now=ist(2025, 1, 15, 0, 30))
    assert estimate.projected_bill.fixed_charge == Decimal("120.00")  # 3 kW x 40.00
