"""Values the tests build that are not rows of their own: readings (written through the
readings store, the only way the product writes them) and a month's consumption as the
readings selector returns it. Model rows come from tests/factories/."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.months import next_month
from readings.stores import get_store
from readings.types import Consumption, Reading

IST = ZoneInfo("Asia/Kolkata")


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def reading(
    device_id: str,
    at: datetime,
    *,
    power_w=1000.0,
    energy_kwh=100.0,
    voltage=230.0,
    current: float | None = None,
    power_factor=0.95,
) -> Reading:
    """A valid reading; the current follows from power and voltage unless given."""
    return Reading(
        device_id=device_id,
        timestamp=at.astimezone(UTC),
        voltage=voltage,
        current=round(power_w / voltage, 3) if current is None else current,
        power_w=power_w,
        energy_kwh=energy_kwh,
        power_factor=power_factor,
        rssi=-60,
    )


def write_registers(device_id: str, points) -> int:
    """Store (timestamp, register kWh) points for a meter through the readings store, as ingestion would."""
    return get_store().write_many(
        [
            reading(device_id, at, energy_kwh=float(energy), power_w=500.0, current=2.2, power_factor=0.98)
            for at, energy in points
        ]
    )


def write_hourly(device_id: str, *, start: datetime, hours: int, kwh_per_hour: float = 1.0, power_w=1000.0) -> None:
    """One reading an hour from `start`, the register rising `kwh_per_hour` each hour."""
    get_store().write_many(
        [
            reading(device_id, start + timedelta(hours=n), power_w=power_w, energy_kwh=100.0 + n * kwh_per_hour)
            for n in range(hours)
        ]
    )


def consumption(
    device_id: str,
    energy_kwh,
    *,
    month: date = date(2025, 1, 1),
    start_register="1000.000",
    readings: int = 2976,
    resets: int = 0,
    closed: bool = True,
) -> Consumption:
    """A month's Consumption as the readings selector returns it (for tests about invoices, not
    about consumption): readings from the month's first quarter-hour (IST) to its last, and
    (``closed``) one at or after its end, the closing read."""
    energy = Decimal(str(energy_kwh)).quantize(Decimal("0.001"))
    if readings == 0:
        return Consumption(device_id, Decimal("0.000"), None, None, None, None, 0, 0)
    start = Decimal(start_register)
    month_end = datetime.combine(next_month(month), datetime.min.time(), tzinfo=IST)
    return Consumption(
        device_id=device_id,
        energy_kwh=energy,
        start_register=start,
        end_register=start + energy,
        first_reading_at=ist(month.year, month.month, 1),
        last_reading_at=month_end - timedelta(minutes=15),
        reading_count=readings,
        resets=resets,
        opened_at=ist(month.year, month.month, 1),
        closed_at=month_end if closed else month_end - timedelta(minutes=15),
        closing_at=month_end if closed else None,
        closing_confirmed=closed,
    )
