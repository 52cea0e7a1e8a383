"""A meter's twelve months of billed use (billing.selectors.meter_usage_history) and the chart's bar heights
(billing.usage_chart)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.months import next_month
from billing.selectors import meter_usage_history
from billing.usage_chart import UsageMonth, usage_bars
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_twelve_months_up_to_the_billed_one_oldest_first(invoice_factory, device):
    month = date(2024, 1, 1)
    for index in range(14):  # Jan 2024 .. Feb 2025
        invoice_factory(month=month, energy_kwh=str(100 + index), estimated=index == 3)
        month = next_month(month)
    history = meter_usage_history(device=device, until_month=date(2025, 1, 1))
    assert [entry.month for entry in history][:2] == [date(2024, 2, 1), date(2024, 3, 1)]
    assert len(history) == 12
    assert history[-1] == UsageMonth(month=date(2025, 1, 1), energy_kwh=Decimal("112.000"), current=True)
    assert [entry.month for entry in history if entry.estimated] == [date(2024, 4, 1)]
    assert [entry.current for entry in history].count(True) == 1


def test_a_gap_is_a_month_without_energy_and_history_starts_at_the_first_bill(invoice_factory, device):
    invoice_factory(month=date(2024, 10, 1), energy_kwh="80")
    invoice_factory(month=date(2024, 12, 1), energy_kwh="90", held=True)  # not issued: left out
    invoice_factory(month=date(2025, 1, 1), energy_kwh="120")
    history = meter_usage_history(device=device, until_month=date(2025, 1, 1))
    assert [(entry.month, entry.energy_kwh) for entry in history] == [
        (date(2024, 10, 1), Decimal("80.000")),
        (date(2024, 11, 1), None),
        (date(2024, 12, 1), None),
        (date(2025, 1, 1), Decimal("120.000")),
    ]


def test_another_meters_bills_are_not_counted(invoice_factory, device):
    invoice_factory(month=date(2025, 1, 1))
    other = DeviceFactory(owner=device.owner)
    assert meter_usage_history(device=other, until_month=date(2025, 1, 1)) == []


def test_bars_are_scaled_to_the_largest_month():
    history = [
        UsageMonth(month=date(2024, 11, 1), energy_kwh=Decimal("50")),
        UsageMonth(month=date(2024, 12, 1), energy_kwh=None),
        UsageMonth(month=date(2025, 1, 1), energy_kwh=Decimal("0")),
        UsageMonth(month=date(2025, 2, 1), energy_kwh=Decimal("0.01"), estimated=True),
        UsageMonth(month=date(2025, 3, 1), energy_kwh=Decimal("200"), current=True),
    ]
    bars = usage_bars(history, area_pt=Decimal(48))
    assert [bar.bar_pt for bar in bars] == [Decimal("12.0"), 0, 0, Decimal("0.8"), Decimal("48.0")]
    assert {bar.bar_pt + bar.space_pt for bar in bars} == {Decimal(58)}  # 48 pt of bars and 10 pt of label
    assert [bar.kind for bar in bars] == ["actual", "actual", "actual", "estimated", "current"]


def test_no_use_at_all_draws_no_bars():
    bars = usage_bars([UsageMonth(month=date(2025, 1, 1), energy_kwh=Decimal("0"), current=True)])
    assert bars[0].bar_pt == 0
