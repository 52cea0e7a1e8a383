"""One meter's readings as the readings API and CSV tests use them."""

from datetime import UTC, datetime, timedelta

from readings.types import Reading

SERIES_START = datetime(2025, 3, 1, 16, 5, tzinfo=UTC)  # 21:35 IST on 1 March


def reading(timestamp, energy_kwh, power_w=1200.0, **extra) -> Reading:
    return Reading(
        device_id="meter-001",
        timestamp=timestamp,
        voltage=230.0,
        current=round(power_w / 230.0, 3),
        power_w=power_w,
        energy_kwh=energy_kwh,
        power_factor=0.9,
        rssi=-55,
        **extra,
    )


def quarter_hour_series() -> list[Reading]:
    """Every 15 minutes from 21:35 IST on 1 March 2025 to 02:35 IST on 2 March, +0.25 kWh each."""
    return [reading(SERIES_START + timedelta(minutes=15 * i), 100 + 0.25 * i, 1000.0 + i) for i in range(21)]
