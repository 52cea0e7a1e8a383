"""A month's consumption, end to end: readings written into the real readings store, read back through
readings.selectors by billing, for calendar months in the billing time zone (Asia/Kolkata)."""

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.selectors import month_consumption, month_period, months_consumption
from tests.factories import DeviceFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db

JANUARY = date(2025, 1, 1)
UTC = ZoneInfo("UTC")
D = Decimal


def test_a_month_is_the_register_at_its_end_minus_at_its_start(device):
    write_registers("meter-001", [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 15), "1100"), (ist(2025, 2, 1), "1250")])
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert used.energy_kwh == D("250.000")
    assert (used.start_register, used.end_register) == (D("1000.000"), D("1250.000"))
    assert used.has_readings


def test_the_month_runs_midnight_to_midnight_in_asia_kolkata(device):
    start, end = month_period(JANUARY)
    assert start == datetime(2024, 12, 31, 18, 30, tzinfo=UTC)
    assert end == datetime(2025, 1, 31, 18, 30, tzinfo=UTC)
    # Hourly readings, 1 kWh an hour, plus 100 kWh used between 00:30 and 01:30 IST on 1 February, which is
    # still 31 January in UTC: it belongs to February's bill, not January's. (101 kWh in an hour is
    # plausible only for a large sanctioned load: docs/readings.md#reading-quality.)
    device.sanctioned_load_kw = D("100")
    device.save(update_fields=["sanctioned_load_kw"])
    points, register, at = [], D("500"), datetime(2024, 12, 31, 12, 0, tzinfo=UTC)
    while at <= datetime(2025, 2, 1, 6, 0, tzinfo=UTC):
        points.append((at, register))
        register += D("101") if at == datetime(2025, 1, 31, 19, 0, tzinfo=UTC) else D("1")
        at += timedelta(hours=1)
    write_registers("meter-001", points)
    january = month_consumption(device_id="meter-001", month=JANUARY)
    february_so_far = month_consumption(device_id="meter-001", month=date(2025, 2, 1))
    assert january.energy_kwh == D("744.000")  # 31 days x 24 h x 1 kWh
    assert january.first_reading_at == datetime(2024, 12, 31, 19, 0, tzinfo=UTC)  # 00:30 IST on the 1st
    assert february_so_far.energy_kwh == D("111.500")  # 00:00-00:30 interpolated, the 100 kWh spike, ...
    assert february_so_far.energy_kwh - D("100") == D("11.500")


def test_the_boundary_register_is_interpolated_between_the_readings_either_side(device):
    write_registers(
        "meter-001",
        [(ist(2024, 12, 31, 23, 0), "1000"), (ist(2025, 1, 1, 1, 0), "1002"), (ist(2025, 1, 31, 23, 0), "1300")],
    )
    write_registers("meter-001", [(ist(2025, 2, 1, 1, 0), "1304")])
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert used.start_register == D("1001.000")
    assert used.end_register == D("1302.000")
    assert used.energy_kwh == D("301.000")
    assert used.reading_count == 2


def test_a_register_reset_counts_the_new_value_as_used_since_the_reset(device):
    write_registers(
        "meter-001",
        [(ist(2025, 1, 1), "5000"), (ist(2025, 1, 10), "5100"), (ist(2025, 1, 11), "0.5"), (ist(2025, 2, 1), "30.5")],
    )
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert used.energy_kwh == D("130.500")  # 100 before the reset, 0.5 up to the next reading, 30 after
    assert used.resets == 1


def test_a_replaced_meter_starting_above_zero_still_bills_what_it_counted(device):
    write_registers("meter-001", [(ist(2025, 1, 1), "8000"), (ist(2025, 1, 20), "8150"), (ist(2025, 1, 21), "12.5")])
    write_registers("meter-001", [(ist(2025, 2, 1), "62.5")])
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert used.energy_kwh == D("212.500")  # 150 on the old meter + 12.5 + 50 on the new one
    assert used.resets == 1


def test_duplicates_count_once(device):
    points = [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 16), "1120"), (ist(2025, 2, 1), "1250")]
    assert write_registers("meter-001", points + points) == 3
    assert write_registers("meter-001", points) == 0  # a redelivered batch
    assert month_consumption(device_id="meter-001", month=JANUARY).energy_kwh == D("250.000")


def test_out_of_order_arrival_gives_the_same_answer(device):
    start = ist(2025, 1, 1)
    points = [(start + timedelta(hours=6 * step), D("1000") + D("0.75") * step) for step in range(4 * 31 + 1)]
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)
    for offset in range(0, len(shuffled), 17):  # several batches, each out of order
        write_registers("meter-001", shuffled[offset : offset + 17])
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert used.energy_kwh == D("93.000")  # 124 steps of 0.75 kWh
    assert used.reading_count == 4 * 31


def test_a_gap_in_the_readings_loses_no_energy(device):
    write_registers(
        "meter-001",
        [(ist(2025, 1, 1), "1000"), (ist(2025, 1, 3), "1010"), (ist(2025, 1, 25), "1200"), (ist(2025, 2, 1), "1240")],
    )
    assert month_consumption(device_id="meter-001", month=JANUARY).energy_kwh == D("240.000")


def test_a_meter_without_readings_has_no_consumption(device):
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert not used.has_readings
    assert used.energy_kwh == D("0.000")
    assert used.start_register is None


def test_a_month_without_readings_inside_takes_its_share_from_the_readings_either_side(device):
    write_registers("meter-001", [(ist(2024, 12, 31), "1000"), (ist(2025, 3, 1), "1600")])  # 60 days
    used = month_consumption(device_id="meter-001", month=JANUARY)
    assert not used.has_readings
    assert used.energy_kwh == D("310.000")  # 31 of the 60 days at 10 kWh a day


def test_many_meters_are_read_together_and_missing_ones_come_back_empty(device, customer):
    DeviceFactory(device_id="meter-002", owner=customer)
    write_registers("meter-001", [(ist(2025, 1, 1), "10"), (ist(2025, 2, 1), "60")])
    write_registers("meter-002", [(ist(2025, 1, 1), "0"), (ist(2025, 2, 1), "7.25")])
    found = months_consumption(device_ids=["meter-001", "meter-002", "meter-003"], month=JANUARY)
    assert {device_id: used.energy_kwh for device_id, used in found.items()} == {
        "meter-001": D("50.000"),
        "meter-002": D("7.250"),
        "meter-003": D("0.000"),
    }
    assert not found["meter-003"].has_readings
