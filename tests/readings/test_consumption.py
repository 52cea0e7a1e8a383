"""The register-based consumption rule (readings.consumption), without a database."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readings.consumption import (
    RegisterPoint,
    consumption_from_registers,
    energy_per_interval,
    normalize_points,
    run_from_registers,
)
from readings.quality import Limits

T0 = datetime(2025, 3, 1, tzinfo=UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# These cases are about the register arithmetic, so the meter may draw any power
# (reading quality has its own tests: tests/readings/test_quality.py).
ANY_POWER = Limits(Decimal("1e9"))


def usage(points, start, end):
    return consumption_from_registers("meter-001", points, start, end, ANY_POWER)


# --- Worked cases -------------------------------------------------------------


def test_readings_exactly_on_both_boundaries_give_the_register_difference():
    result = usage([(at(0), 100.0), (at(30), 100.4), (at(60), 100.9)], at(0), at(60))
    assert result.energy_kwh == Decimal("0.900")
    assert (result.start_register, result.end_register) == (Decimal("100.000"), Decimal("100.900"))
    # The reading at `end` fixes the end register but belongs to the next period.
    assert result.reading_count == 2
    assert (result.first_reading_at, result.last_reading_at) == (at(0), at(30))
    assert result.resets == 0
    assert result.has_readings


def test_boundary_registers_are_interpolated_between_the_bracketing_readings():
    points = [(at(-30), 10.0), (at(30), 16.0), (at(90), 22.0), (at(150), 28.0)]
    result = usage(points, at(0), at(120))
    assert result.start_register == Decimal("13.000")
    assert result.end_register == Decimal("25.000")
    assert result.energy_kwh == Decimal("12.000")
    assert result.reading_count == 2


def test_without_a_reading_beyond_a_boundary_the_nearest_reading_inside_is_used():
    result = usage([(at(10), 5.0), (at(20), 6.0), (at(50), 7.5)], at(0), at(60))
    assert result.start_register == Decimal("5.000")
    assert result.end_register == Decimal("7.500")
    assert result.energy_kwh == Decimal("2.500")


def test_order_of_arrival_and_duplicates_do_not_change_the_answer():
    points = [(at(m), 100 + m / 10) for m in range(0, 121, 5)]
    shuffled = points * 3
    random.Random(7).shuffle(shuffled)
    assert usage(shuffled, at(12), at(100)) == usage(points, at(12), at(100))


def test_duplicate_instants_keep_the_highest_register():
    assert normalize_points([(at(0), 5.0), (at(0), 7.0), (at(0), 6.0)]) == [RegisterPoint(at(0), Decimal("7.0"))]


def test_a_register_reset_counts_the_new_value_as_consumed_since_the_reset():
    # 100 -> 105 (+5), reset to 0 then 2 read (+2), 2 -> 4 (+2)
    result = usage([(at(0), 100.0), (at(10), 105.0), (at(20), 2.0), (at(30), 4.0)], at(0), at(40))
    assert result.energy_kwh == Decimal("9.000")
    assert result.resets == 1


def test_a_replaced_meter_starting_from_its_own_register_counts_that_register():
    result = usage([(at(0), 5000.0), (at(10), 5001.5), (at(20), 3.25), (at(30), 4.0)], at(0), at(40))
    assert result.energy_kwh == Decimal("5.500")  # 1.5 + 3.25 + 0.75
    assert result.resets == 1
    assert result.end_register == Decimal("4.000")


def test_a_reset_straddling_the_start_belongs_to_the_previous_period():
    # Register 50 at -10 min, then 4 at +10 min (confirmed a reset by 5 at +70): the reset
    # is placed right after the reading at -10, so [0, 60) sees the register climb from
    # 2 (interpolated) to 4, then 5/6 of the step to 5.
    points = [(at(-10), 50.0), (at(10), 4.0), (at(70), 5.0)]
    result = usage(points, at(0), at(60))
    assert result.start_register == Decimal("2.000")
    assert result.energy_kwh == Decimal("2.833")
    assert result.resets == 0
    previous = usage(points, at(-60), at(0))
    assert previous.resets == 1
    assert previous.energy_kwh + result.energy_kwh == Decimal("4.833")


def test_a_reset_straddling_the_end_is_counted_in_this_period():
    points = [(at(50), 80.0), (at(70), 6.0), (at(80), 7.0)]
    result = usage(points, at(0), at(60))
    assert result.end_register == Decimal("3.000")
    assert result.energy_kwh == Decimal("3.000")
    assert result.resets == 1


def test_a_gap_over_the_whole_period_is_shared_out_by_time():
    # The meter was silent for four days; a day in the middle gets a quarter of the step.
    points = [(T0, 100.0), (T0 + timedelta(days=4), 140.0)]
    result = usage(points, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert result.energy_kwh == Decimal("10.000")
    assert result.reading_count == 0
    assert not result.has_readings
    assert (result.start_register, result.end_register) == (Decimal("110.000"), Decimal("120.000"))


def test_no_readings_at_all_is_zero_with_no_registers():
    result = usage([], at(0), at(60))
    assert result.energy_kwh == Decimal("0.000")
    assert result.start_register is None
    assert result.end_register is None
    assert not result.has_readings


def test_readings_only_before_the_period_tell_nothing_about_it():
    result = usage([(at(-20), 1.0), (at(-10), 2.0)], at(0), at(60))
    assert result.energy_kwh == Decimal("0.000")
    assert result.start_register is None
    assert result.reading_count == 0


def test_energy_is_rounded_half_up_to_the_watt_hour_only_at_the_end():
    result = usage([(at(0), 1.0), (at(1), 1.0002), (at(2), 1.0005)], at(0), at(3))
    assert result.energy_kwh == Decimal("0.001")  # 0.0005 rounds up
    float_sum = usage([(at(0), 0.1), (at(1), 0.3), (at(2), 0.6)], at(0), at(3))
    assert float_sum.energy_kwh == Decimal("0.500")


def test_a_billing_month_in_kolkata_uses_readings_around_local_midnight():
    month_start = datetime(2025, 3, 1, tzinfo=KOLKATA)
    month_end = datetime(2025, 4, 1, tzinfo=KOLKATA)
    # Quarter-hourly readings rising 0.25 kWh each, from a day before to a day after.
    points = []
    register = Decimal("1000")
    moment = month_start - timedelta(days=1, minutes=7)
    while moment < month_end + timedelta(days=1):
        points.append((moment.astimezone(UTC), register))
        register += Decimal("0.25")
        moment += timedelta(minutes=15)
    result = usage(points, month_start, month_end)
    assert result.energy_kwh == Decimal("744.000")  # 31 days * 96 quarter hours * 0.25
    assert result.reading_count == 31 * 96


def test_naive_datetimes_and_inverted_periods_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        usage([], datetime(2025, 1, 1), at(0))  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="timezone-aware"):
        usage([(datetime(2025, 1, 1), 1.0)], at(0), at(1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="after end"):
        usage([], at(10), at(0))
    with pytest.raises(ValueError, match="finite"):
        usage([(at(0), float("nan"))], at(0), at(1))


def test_a_run_telescopes_the_steps_and_adds_back_what_each_drop_lost():
    run = run_from_registers([1.0, 5.0, 2.0, 6.0, 0.5], first_at=at(0), last_at=at(4))
    # +4, reset to 2, +4, reset to 0.5  =>  4 + 2 + 4 + 0.5
    assert run.energy_kwh == Decimal("10.5")
    assert run.resets == 2
    assert run.count == 5


# --- Properties ---------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=24 * 60)
registers = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
point_lists = st.lists(st.tuples(minutes, registers), max_size=40)
monotone_steps = st.lists(st.tuples(st.integers(1, 90), registers.map(lambda value: value / 1000)), max_size=40)


def as_points(raw):
    return [(at(minute), value) for minute, value in raw]


def _rising(raw):
    """The same instants with a register that never drops (running maximum)."""
    result, highest = [], Decimal(0)
    for minute, value in sorted(raw):
        highest = max(highest, value)
        result.append((minute, highest))
    return result


# A drop is classified by its neighbours (readings.quality), and a period sees one reading
# either side of it, so additivity and the per-bucket plain rule are exact for registers
# that never drop; drops have their worked cases above and in test_quality.py.
rising_point_lists = point_lists.map(_rising)


@settings(max_examples=150, deadline=None)
@given(point_lists, minutes, minutes, st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_give_the_same_consumption(raw, a, b, rng):
    start, end = sorted((at(a), at(b)))
    points = as_points(raw)
    jumbled = points + rng.sample(points, k=len(points) // 2)
    rng.shuffle(jumbled)
    assert usage(jumbled, start, end) == usage(points, start, end)


@settings(max_examples=200, deadline=None)
@given(rising_point_lists, st.lists(minutes, min_size=3, max_size=3))
def test_consumption_is_additive_over_adjacent_periods(raw, cuts):
    start, middle, end = (at(minute) for minute in sorted(cuts))
    points = as_points(raw)
    whole = usage(points, start, end)
    first, second = usage(points, start, middle), usage(points, middle, end)
    assert abs(first.energy_kwh + second.energy_kwh - whole.energy_kwh) <= Decimal("0.001")
    assert first.resets + second.resets == whole.resets
    assert first.reading_count + second.reading_count == whole.reading_count


@settings(max_examples=150, deadline=None)
@given(point_lists, minutes, minutes)
def test_consumption_is_never_negative(raw, a, b):
    start, end = sorted((at(a), at(b)))
    assert usage(as_points(raw), start, end).energy_kwh >= 0


@settings(max_examples=150, deadline=None)
@given(registers, monotone_steps, minutes, minutes)
def test_a_register_that_never_drops_gives_end_minus_start(initial, steps, a, b):
    start, end = sorted((at(a), at(b)))
    points, minute, register = [(at(0), initial)], 0, initial
    for gap, increase in steps:
        minute += gap
        register += increase
        points.append((at(minute), register))
    result = usage(points, start, end)
    assert result.resets == 0
    if result.start_register is not None:
        assert abs(result.energy_kwh - (result.end_register - result.start_register)) <= Decimal("0.001")


@settings(max_examples=150, deadline=None)
@given(rising_point_lists, st.lists(minutes, min_size=2, max_size=8, unique=True))
def test_runs_per_bucket_match_the_rule_applied_to_every_reading(raw, cut_minutes):
    """Stores hand per-bucket runs to energy_per_interval; it must agree with
    the rule applied to all the readings, for every non-empty bucket."""
    points = normalize_points(as_points(raw))
    cuts = [at(minute) for minute in sorted(cut_minutes)]
    intervals = []
    for bucket_start, bucket_end in zip(cuts, cuts[1:], strict=False):
        inside = [point for point in points if bucket_start <= point.timestamp < bucket_end]
        if inside:
            run = run_from_registers(
                [point.energy_kwh for point in inside], first_at=inside[0].timestamp, last_at=inside[-1].timestamp
            )
            intervals.append((bucket_start, bucket_end, run))
    before = next((point for point in reversed(points) if point.timestamp < cuts[0]), None)
    after = next((point for point in points if point.timestamp >= cuts[-1]), None)
    expected = [usage(points, bucket_start, bucket_end) for bucket_start, bucket_end, _ in intervals]
    energies = energy_per_interval(intervals, before=before, after=after)
    assert energies == [item.energy_kwh for item in expected]
