"""Plain values that cross the readings seam; no store types leak past it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    timestamp: datetime  # timezone-aware, UTC
    voltage: float
    current: float
    power_w: float
    energy_kwh: float  # the meter's cumulative register
    power_factor: float
    rssi: int
    location: str = ""


@dataclass(frozen=True, slots=True)
class Consumption:
    """Energy used by one meter between two instants, read off its cumulative register."""

    device_id: str
    energy_kwh: Decimal
    start_register: Decimal | None
    end_register: Decimal | None
    first_reading_at: datetime | None
    last_reading_at: datetime | None
    reading_count: int
    resets: int = 0
    # The instants the energy is counted from and to: the period's start/end when a reading
    # lies beyond it (the register is interpolated there), else the first/last reading.
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def has_readings(self) -> bool:
        return self.reading_count > 0

    def closes_at(self, end: datetime) -> bool:
        """Whether a reading at or after ``end`` backs the register at ``end`` (a closing read)."""
        return self.closed_at is not None and self.closed_at >= end
