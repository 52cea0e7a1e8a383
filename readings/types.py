"""Plain values that cross the readings seam; no store types leak past it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple


class Phase(NamedTuple):
    """One phase (L1..L3) or channel (CH1, CH2: a Tasmota multi-channel monitor) of a reading; None = not sent.

    A named tuple: a Shelly sends three with every power message, and these are made fastest.
    """

    name: str
    voltage: float | None = None
    current: float | None = None
    power_w: float | None = None
    power_factor: float | None = None

    def as_dict(self) -> dict:
        return {
            key: value
            for key, value in (
                ("voltage", self.voltage),
                ("current", self.current),
                ("power_w", self.power_w),
                ("power_factor", self.power_factor),
            )
            if value is not None
        }


def phases_as_dict(phases: tuple[Phase, ...]) -> dict | None:
    """The stored form of a reading's phases: {"L1": {"voltage": 231.0, ...}, ...}, or None."""
    return {phase.name: phase.as_dict() for phase in phases} or None


def phases_from_dict(stored: dict | None) -> tuple[Phase, ...]:
    return tuple(Phase(name, **values) for name, values in (stored or {}).items())


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored sample. The product's own JSON always carries voltage, current, power factor and
    RSSI; other formats may not (None: not measured). `energy_kwh` is the total import register (the
    sum of a meter's tariff registers, kept in `registers`), `energy_export_kwh` the export register."""

    device_id: str
    timestamp: datetime  # timezone-aware, UTC
    voltage: float | None
    current: float | None
    power_w: float | None
    energy_kwh: float  # the meter's cumulative register
    power_factor: float | None
    rssi: int | None
    location: str = ""
    energy_export_kwh: float | None = None
    phases: tuple[Phase, ...] = ()
    registers: tuple[tuple[str, float], ...] = ()  # (name, kWh) of each import register, when several


@dataclass(frozen=True, slots=True)
class PowerSample:
    """A message with power but no energy register (a Shelly's em:0): shown live, joined to the
    meter's next register reading, never stored on its own (docs/ingestion.md#partial-messages)."""

    device_id: str
    timestamp: datetime
    power_w: float
    voltage: float | None = None
    current: float | None = None
    power_factor: float | None = None
    phases: tuple[Phase, ...] = ()


@dataclass(frozen=True, slots=True)
class ExcludedReading:
    """A reading kept in the store but left out of the energy, and why (readings.quality)."""

    timestamp: datetime
    register: Decimal
    kind: str  # "glitch" | "implausible" | "unconfirmed"
    reason: str


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
    rollovers: int = 0
    glitches: int = 0
    implausible: int = 0
    # Readings in the period left out of the energy (glitches, implausible steps), in time order.
    excluded: tuple[ExcludedReading, ...] = ()
    # The first reading at/after the period end that the end register leans on, and whether
    # it is confirmed (not itself a drop or an implausible step, or classified by the reading
    # after it). A month closes only on a confirmed reading.
    closing_at: datetime | None = None
    closing_confirmed: bool = False
    # The reading that cannot be classified yet (a drop or an implausible step with no
    # reading after it), when there is one in the period or at its closing.
    unconfirmed: ExcludedReading | None = None

    @property
    def has_readings(self) -> bool:
        return self.reading_count > 0

    def closes_at(self, end: datetime) -> bool:
        """Whether a confirmed reading at or after ``end`` backs the register at ``end`` (a closing read)."""
        return self.closing_confirmed and self.closing_at is not None and self.closing_at >= end
