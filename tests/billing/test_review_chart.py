"""The register chart of a bill under review: thinned per pixel column without losing a spike, and
sampled from the store when the month holds more readings than it draws."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import selectors
from billing.review_chart import register_chart
from tests.factories import InvoiceFactory
from tests.support.readings import ist, write_registers

START = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_spike_among_many_readings_survives_the_thinning():
    readings = [(START + timedelta(seconds=10 * n), Decimal(1000) + Decimal(n) / 100) for n in range(50_000)]
    readings[25_000] = (readings[25_000][0], Decimal(5000))
    chart = register_chart(start=START, end=readings[-1][0], readings=readings)
    ys = [float(point.split(",")[1]) for point in chart.line.split()]
    assert len(ys) < 4 * chart.width  # a few points per pixel column, not 50,000
    assert min(ys) == chart.plot_top  # the spike is the highest point drawn
    assert chart.readings == 50_000


def test_markers_sit_at_their_instant_and_register():
    readings = [(START, Decimal(0)), (START + timedelta(hours=10), Decimal(100))]
    chart = register_chart(
        start=START,
        end=readings[-1][0],
        readings=readings,
        excluded=[(START + timedelta(hours=5), Decimal(50), "glitch")],
        opening=readings[0],
        closing=readings[-1],
    )
    assert (chart.opening.x, chart.opening.y) == (chart.plot_left, chart.plot_bottom)
    assert (chart.closing.x, chart.closing.y) == (chart.plot_right, chart.plot_top)
    (mark,) = chart.excluded
    assert mark.x == (chart.plot_left + chart.plot_right) / 2
    assert mark.label.startswith("glitch 50 kWh")


@pytest.mark.django_db
def test_a_month_with_too_many_readings_is_sampled_and_keeps_its_closing_reading(seed_tariff, device, monkeypatch):
    monkeypatch.setattr(selectors, "REVIEW_CHART_RAW_LIMIT", 50)
    monkeypatch.setattr(selectors, "REVIEW_CHART_SLICES", 10)
    points = [(ist(2025, 1, 1) + timedelta(hours=2 * n), 1000 + n) for n in range(372)]
    write_registers(device.device_id, points)
    invoice = InvoiceFactory(device=device, held=True, energy_kwh="371")
    invoice.closing_at = points[-1][0]
    review = selectors.invoice_review_chart(invoice=invoice)
    assert review.sampled
    assert 10 <= review.chart.readings <= 11  # the first reading of each slice, and the closing one
