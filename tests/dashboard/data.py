"""Test data for the dashboard tests, written through the product's own seams."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from readings.stores import get_store
from readings.types import Consumption, Reading

TARIFF_SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]


def reading(device_id: str, at: datetime, *, power_w=1000.0, energy_kwh=100.0, voltage=230.0) -> Reading:
    return Reading(
        device_id=device_id,
        timestamp=at.astimezone(UTC),
        voltage=voltage,
        current=round(power_w / voltage, 3),
        power_w=power_w,
        energy_kwh=energy_kwh,
        power_factor=0.95,
        rssi=-60,
    )


def write_hourly(device_id: str, *, start: datetime, hours: int, kwh_per_hour: float = 1.0, power_w=1000.0) -> None:
    """One reading an hour from `start`, the register rising `kwh_per_hour` each hour."""
    get_store().write_many(
        [
            reading(device_id, start + timedelta(hours=n), power_w=power_w, energy_kwh=100.0 + n * kwh_per_hour)
            for n in range(hours)
        ]
    )


def tariff():
    """The tariff of the design brief, in force since 2020 (created once per test database)."""
    from billing.models import Tariff
    from billing.services.tariffs import tariff_create

    existing = Tariff.objects.filter(effective_from=date(2020, 1, 1)).first()
    return existing or tariff_create(
        slabs=TARIFF_SLABS, fixed_charge="50.00", tax_rate="0.18", effective_from=date(2020, 1, 1)
    )


def issue_invoice(device, *, month: date, energy_kwh: str = "250.000", tariff_version=None):
    """A real invoice (PDF included) as a billing run issues it."""
    from billing.services.invoices import invoice_issue

    consumption = Consumption(
        device_id=device.device_id,
        energy_kwh=Decimal(energy_kwh),
        start_register=Decimal("1000.000"),
        end_register=Decimal("1000.000") + Decimal(energy_kwh),
        first_reading_at=datetime(month.year, month.month, 1, tzinfo=UTC),
        last_reading_at=datetime(month.year, month.month, 28, tzinfo=UTC),
        reading_count=100,
    )
    invoice, _ = invoice_issue(device=device, month=month, consumption=consumption, tariff=tariff_version or tariff())
    return invoice
