"""When a bill waits for a person instead of going out (pure): docs/billing.md#review-before-sending."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ReviewThresholds:
    spike_factor: Decimal  # energy above this many times the trailing average...
    spike_min_kwh: Decimal  # ...and at least this much above it
    estimates_in_a_row: int  # the n-th estimate in a row is held


@dataclass(frozen=True, slots=True)
class BillSigns:
    """What the review rules look at in a bill about to go out."""

    energy_kwh: Decimal
    trailing_average_kwh: Decimal | None  # None: no earlier actual bill to compare with
    resets: int
    rollovers: int
    glitches: int
    implausible: int
    estimates_in_a_row: int  # including this bill when it is an estimate
    total: Decimal
    ceiling: Decimal | None


def review_reasons(signs: BillSigns, thresholds: ReviewThresholds) -> list[str]:
    """Why the bill should be held, in plain words; empty when it can go out."""
    reasons = []
    average = signs.trailing_average_kwh
    if (
        average is not None
        and signs.energy_kwh > average * thresholds.spike_factor
        and signs.energy_kwh - average >= thresholds.spike_min_kwh
    ):
        reasons.append(
            f"{signs.energy_kwh} kWh is more than {thresholds.spike_factor}× the meter's average of"
            f" {average.quantize(Decimal('0.001'))} kWh"
        )
    if signs.resets:
        reasons.append(f"the register restarted from zero {_times(signs.resets)}")
    if signs.rollovers:
        reasons.append(f"the register rolled over {_times(signs.rollovers)}")
    if signs.glitches:
        reasons.append(f"{_readings(signs.glitches)} left out as glitches")
    if signs.implausible:
        reasons.append(f"{_readings(signs.implausible, 'step')} above what the connection can draw left out")
    if signs.estimates_in_a_row >= thresholds.estimates_in_a_row:
        reasons.append(f"estimate number {signs.estimates_in_a_row} in a row: the meter needs a visit")
    if signs.ceiling is not None and signs.total > signs.ceiling:
        reasons.append(f"total ₹{signs.total} is above the tariff's review ceiling of ₹{signs.ceiling}")
    return reasons


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _readings(count: int, noun: str = "reading") -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"
