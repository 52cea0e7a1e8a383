"""The "Compared with" figures: same-span months, daily average, busiest hour, the account total;
the selector and the meter and My meters pages that show them."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django.utils.html import strip_tags

from dashboard.comparisons import (
    NO_READINGS,
    PARTIAL_READINGS,
    Figure,
    account_comparison,
    change_sentence,
    comparison_spans,
    meter_comparison,
)
from tests.factories import DeviceFactory
from tests.support.readings import IST, ist, write_registers

pytestmark = pytest.mark.django_db

NOW = ist(2025, 3, 15, 12)


def _hourly(start: datetime, end: datetime, kwh_per_hour, register: float = 100.0) -> tuple[list, float]:
    """Hourly (timestamp, register) points from start up to and including end; `kwh_per_hour` is a
    number or a function of the reading's local hour (the use in the hour that reading opens)."""
    points, at = [], start
    while at <= end:
        points.append((at, f"{register:.3f}"))
        rate = kwh_per_hour(at.astimezone(IST).hour) if callable(kwh_per_hour) else kwh_per_hour
        register += rate
        at += timedelta(hours=1)
    return points, register


def _february_then_march(device_id: str) -> None:
    """1 kWh an hour through February 2025, 1.2 kWh an hour in March up to NOW."""
    february, register = _hourly(ist(2025, 2, 1), ist(2025, 2, 28, 23), 1.0)
    march, _ = _hourly(ist(2025, 3, 1), NOW, 1.2, register)
    write_registers(device_id, february + march)


@pytest.fixture
def frozen_now(monkeypatch):
    def freeze(at: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: at)
        return at

    return freeze


# --- spans ----------------------------------------------------------------------------


def test_the_spans_have_the_same_days_and_time_of_day():
    this, last_month, last_year = comparison_spans(now=NOW, tz=IST)
    assert (this.start, this.end) == (ist(2025, 3, 1), NOW)
    assert (last_month.start, last_month.end) == (ist(2025, 2, 1), ist(2025, 2, 15, 12))
    assert (last_year.start, last_year.end) == (ist(2024, 3, 1), ist(2024, 3, 15, 12))
    assert (last_month.month, last_year.month) == (date(2025, 2, 1), date(2024, 3, 1))


def test_on_the_last_day_of_march_the_days_stop_at_februarys_length():
    this, last_month, last_year = comparison_spans(now=ist(2025, 3, 31, 18), tz=IST)
    assert this.end == ist(2025, 3, 29)
    assert last_month.end == ist(2025, 3, 1)  # all 28 days of February
    assert last_year.end == ist(2024, 3, 29)


def test_spans_follow_the_wall_clock_of_the_time_zone():
    paris = ZoneInfo("Europe/Paris")  # summer time starts on 30 March 2025
    this, last_month, _ = comparison_spans(now=datetime(2025, 4, 10, 9, tzinfo=paris), tz=paris)
    assert this.start == datetime(2025, 4, 1, tzinfo=paris)
    assert last_month.end == datetime(2025, 3, 10, 9, tzinfo=paris)


# --- one meter ------------------------------------------------------------------------


def test_same_span_comparison_with_last_month(device):
    _february_then_march(device.device_id)

    comparison = meter_comparison(device_id=device.device_id, now=NOW)

    assert comparison.days == Decimal("14.5")
    assert comparison.this_month.kwh == Decimal("417.600")  # 348 hours x 1.2
    assert comparison.last_month.other.kwh == Decimal("348.000")  # the same 348 hours of February x 1
    assert comparison.last_month.percent == 20
    assert comparison.last_month.signed_percent == "+20%"
    assert comparison.last_month.sentence == "20% more than the same days last month"
    assert comparison.daily_average.kwh == Decimal("28.800")


def test_missing_last_year_is_not_enough_data_not_zero(device):
    _february_then_march(device.device_id)

    last_year = meter_comparison(device_id=device.device_id, now=NOW).last_year

    assert last_year.other == Figure(None, NO_READINGS)
    assert last_year.percent is None
    assert last_year.signed_percent == ""
    assert last_year.sentence == "not enough data to compare with the same days of March 2024 (no readings)"


def test_a_month_the_readings_cover_only_partly_is_not_enough_data(device):
    _february_then_march(device.device_id)
    partial, _ = _hourly(ist(2024, 3, 10), ist(2024, 3, 20), 1.0, 10.0)  # started on the 10th
    write_registers(device.device_id, partial)

    last_year = meter_comparison(device_id=device.device_id, now=NOW).last_year

    assert last_year.other == Figure(None, PARTIAL_READINGS)
    assert "not enough data" in last_year.sentence


def test_less_use_reads_as_less_with_a_minus_sign():
    change = change_sentence(current=Figure(Decimal(88)), other=Figure(Decimal(100)), label="the same days last month")
    assert change == "12% less than the same days last month"
    assert change_sentence(current=Figure(Decimal(5)), other=Figure(Decimal(0)), label="x") == "none used on x"


def test_the_busiest_hour_is_the_local_hour(device):
    # 0.5 kWh an hour, 3 kWh in the hour from 19:00 India time (13:30 UTC) for 30 days.
    points, _ = _hourly(NOW - timedelta(days=31), NOW, lambda hour: 3.0 if hour == 19 else 0.5)
    write_registers(device.device_id, points)

    comparison = meter_comparison(device_id=device.device_id, now=NOW)

    assert comparison.peak_hour == 19
    assert comparison.peak_hour_label == "19:00–20:00"


def test_no_busiest_hour_when_every_hour_uses_the_same(device):
    points, _ = _hourly(NOW - timedelta(days=31), NOW, 1.0)
    write_registers(device.device_id, points)

    comparison = meter_comparison(device_id=device.device_id, now=NOW)

    assert comparison.peak_hour is None
    assert comparison.peak_hour_sentence == "Busiest hour: none, the same use at every hour over the last 30 days."


def test_no_busiest_hour_from_two_days_of_readings(device):
    points, _ = _hourly(NOW - timedelta(days=2), NOW, 1.0)
    write_registers(device.device_id, points)

    comparison = meter_comparison(device_id=device.device_id, now=NOW)

    assert comparison.peak_hour is None
    assert "fewer than 3 days" in comparison.peak_hour_reason


# --- the account ----------------------------------------------------------------------


def test_the_account_total_leaves_out_a_meter_without_last_months_data(device):
    _february_then_march(device.device_id)
    newer = DeviceFactory(device_id="meter-002", owner=device.owner)
    points, _ = _hourly(ist(2025, 3, 1), NOW, 2.0)  # added in March: no February readings
    write_registers(newer.device_id, points)

    comparison = account_comparison(device_ids=[device.device_id, newer.device_id], now=NOW)

    assert (comparison.last_month.meters_included, comparison.last_month.meters_total) == (1, 2)
    assert comparison.last_month.change.current.kwh == Decimal("417.600")  # meter-001 only
    assert comparison.last_month.change.other.kwh == Decimal("348.000")
    assert comparison.last_year.meters_included == 0
    assert comparison.last_year.change.sentence == (
        "not enough data to compare with the same days of March 2024 (no meter has readings for both periods)"
    )


# --- pages ----------------------------------------------------------------------------


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def test_meter_page_shows_the_compared_with_card(client, device, frozen_now):
    frozen_now(NOW)
    _february_then_march(device.device_id)
    client.force_login(device.owner)

    card = _section(unescape(client.get("/meters/meter-001/").content.decode()), "compare-heading")

    assert "Compared with" in card
    assert "The first 14.5 days of each month" in card
    assert "the same number of days" in card
    assert "<strong>+20%</strong>" in card
    assert "20% more than the same days last month" in card
    assert "Not enough data to compare with the same days of March 2024 (no readings)" in card
    assert "417.60" in card
    assert "348.00" in card
    assert "28.80" in card
    assert "Busiest hour (last 30 days)" in card
    assert "<script" not in card
    assert "style=" not in card


def test_my_meters_shows_the_account_line_with_meters_included(client, device, frozen_now):
    frozen_now(NOW)
    _february_then_march(device.device_id)
    newer = DeviceFactory(device_id="meter-002", owner=device.owner)
    points, _ = _hourly(ist(2025, 3, 1), NOW, 2.0)
    write_registers(newer.device_id, points)
    client.force_login(device.owner)

    line = strip_tags(_section(unescape(client.get("/").content.decode()), "account-compare-heading"))

    assert "All meters: +20% · 20% more than the same days last month" in line
    assert "1 of 2 meters included" in line
    assert "0 of 2 meters included" in line
    assert "not enough data to compare with the same days of March 2024 (no meter has readings" in line
