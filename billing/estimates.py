"""Estimated bills: what a month without a closing read is billed, and on what basis (pure).

docs/billing.md#estimated-bills: the meter's average daily use over its recent readings,
else the same month a year earlier, else the tariff's default, times the days billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from billing.calculation import round_energy

TRAILING_READINGS = "trailing_90_days"
SAME_MONTH_LAST_YEAR = "same_month_last_year"
TARIFF_DEFAULT = "tariff_default"

BASIS_LABELS = {
    TRAILING_READINGS: "average daily use over the meter's recent readings",
    SAME_MONTH_LAST_YEAR: "the same month last year",
    TARIFF_DEFAULT: "the tariff's default for a connection without history",
}

MIN_SPAN = timedelta(days=1)  # less than a day of readings says too little about a month


@dataclass(frozen=True, slots=True)
class RecentUse:
    """Energy counted over a span of the meter's recent readings."""

    energy_kwh: Decimal
    span: timedelta


@dataclass(frozen=True, slots=True)
class LastYear:
    """The same month a year earlier, as billed from actual readings."""

    energy_kwh: Decimal
    days: int


@dataclass(frozen=True, slots=True)
class Estimate:
    energy_kwh: Decimal
    basis: str

    @property
    def basis_label(self) -> str:
        return BASIS_LABELS[self.basis]


def estimate_energy(
    *, days: int, recent: RecentUse | None, last_year: LastYear | None, default_kwh: Decimal, month_days: int
) -> Estimate:
    """The energy to bill for ``days`` days of a ``month_days``-day month without a closing read."""
    if recent is not None and recent.span >= MIN_SPAN and recent.energy_kwh >= 0:
        per_day = recent.energy_kwh / Decimal(recent.span.total_seconds() / 86400)
        return Estimate(round_energy(per_day * days), TRAILING_READINGS)
    if last_year is not None and last_year.days > 0:
        return Estimate(round_energy(last_year.energy_kwh / last_year.days * days), SAME_MONTH_LAST_YEAR)
    return Estimate(round_energy(default_kwh * days / month_days), TARIFF_DEFAULT)
