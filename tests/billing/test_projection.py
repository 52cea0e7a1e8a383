"""billing.projection: when this month's readings justify projecting its bill (pure, no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.projection import NO_READINGS, READINGS_STALE, TOO_FEW_DAYS, projection_hold

START = datetime(2025, 1, 1, tzinfo=UTC)


def hold(*, span: timedelta, silent: timedelta = timedelta(0), min_days: int = 3, **kwargs):
    """The rule for readings from START over ``span``, asked ``silent`` after the last one."""
    return projection_hold(
        counted_from=START, counted_to=START + span, now=START + span + silent, min_days=min_days, **kwargs
    )


def test_no_readings_this_month_hold_the_projection():
    assert projection_hold(counted_from=None, counted_to=None, now=START, min_days=3) == NO_READINGS


def test_a_new_meter_with_two_readings_an_hour_apart_is_not_projected():
    assert hold(span=timedelta(hours=1)) == TOO_FEW_DAYS


def test_a_single_reading_is_not_projected_even_when_no_days_are_required():
    assert hold(span=timedelta(0), min_days=0) == TOO_FEW_DAYS


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(days=3) - timedelta(seconds=1), TOO_FEW_DAYS),
        (timedelta(days=3), None),  # the minimum is inclusive
        (timedelta(days=5), None),
    ],
)
def test_projections_start_once_the_readings_span_the_minimum_days(span, expected):
    assert hold(span=span) == expected


def test_the_minimum_days_come_from_the_caller():
    assert hold(span=timedelta(days=5), min_days=7) == TOO_FEW_DAYS
    assert hold(span=timedelta(days=7), min_days=7) is None


@pytest.mark.parametrize(
    ("silent", "expected"),
    [
        (timedelta(hours=6), None),
        (timedelta(days=1), None),  # 3 of 4 days covered: exactly the 75 % minimum
        (timedelta(days=1, seconds=1), READINGS_STALE),
        (timedelta(days=10), READINGS_STALE),
    ],
)
def test_a_meter_that_stopped_reporting_is_not_projected_from_its_old_rate(silent, expected):
    assert hold(span=timedelta(days=3), silent=silent) == expected


def test_the_share_covered_can_be_set():
    assert hold(span=timedelta(days=3), silent=timedelta(days=3), min_coverage=0.5) is None
    assert hold(span=timedelta(days=3), silent=timedelta(days=3), min_coverage=0.6) == READINGS_STALE
