"""Reading quality (readings.quality), without a database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from readings import quality
from readings.quality import DEFAULT_LIMITS, Limits, Point

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def hourly(values):
    return [Point(T0 + timedelta(hours=index), Decimal(str(value))) for index, value in enumerate(values)]


def kinds(values, limits=DEFAULT_LIMITS):
    return [step.kind for step in quality.classify(hourly(values), limits)]


def test_each_kind_of_step():
    assert kinds([100, 101, 0, 102]) == ["normal", "glitch", "normal"]
    assert kinds([100, 101, 999, 102]) == ["normal", "glitch", "normal"]
    assert kinds([100, 101, 1, 2]) == ["normal", "reset", "normal"]
    assert kinds([999999, 999999.5, 0.4, 1], Limits(Decimal("7.5"), 6)) == ["normal", "rollover", "normal"]
    assert kinds([100, 101, 200, 201]) == ["normal", "implausible", "normal"]
    assert kinds([100, 101, 0]) == ["normal", "unconfirmed"]


def test_a_rollover_counts_the_wrap_and_an_implausible_step_nothing():
    steps = quality.classify(hourly([999999.5, 0.4, 1]), Limits(Decimal("7.5"), 6))
    assert steps[0].contribution == Decimal("0.9")
    assert quality.classify(hourly([100, 200, 201]), DEFAULT_LIMITS)[0].contribution == 0


def test_the_fast_check_lets_through_only_plain_sequences():
    epochs = [0.0, 3600.0, 7200.0]
    assert quality.is_plain(epochs, [1.0, 2.0, 9.0], DEFAULT_LIMITS)
    assert not quality.is_plain(epochs, [1.0, 2.0, 10.0], DEFAULT_LIMITS)  # 8 kWh in an hour > 7.5 kW
    assert not quality.is_plain(epochs, [1.0, 0.5, 1.0], DEFAULT_LIMITS)
