"""When this month's readings justify projecting its bill: one pure rule, no Django.

A projection extends the energy the readings back to the whole month; from a few hours of
readings that is a number nobody can defend, so it is held (with a reason) until they
justify it. docs/dashboard.md#the-projection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Why a projection is held (None from ``projection_hold`` means it may be shown).
NO_READINGS = "no_readings"  # nothing counted this month
TOO_FEW_DAYS = "too_few_days"  # the readings span less than the minimum number of days
READINGS_STALE = "readings_stale"  # the meter stopped reporting: the readings cover too little of the time since
NO_TARIFF = "no_tariff"  # the energy could be projected, but no tariff is in force to price it (set by the selector)

# The share of the time since the projection starts that the readings must cover.
MIN_COVERAGE = 0.75


def projection_hold(
    *,
    counted_from: datetime | None,
    counted_to: datetime | None,
    now: datetime,
    min_days: int,
    min_coverage: float = MIN_COVERAGE,
) -> str | None:
    """The reason to hold this month's projection, or None when the readings justify one.

    ``counted_from``/``counted_to`` are the instants this month's energy is counted between
    (``Consumption.opened_at``/``closed_at``: the month's start when a reading lies before
    it, else the first reading in the month; the last reading, or ``now``). The projection
    runs from ``counted_from``, so:

    - the readings must span at least ``min_days`` days (``TOO_FEW_DAYS``), and
    - they must cover at least ``min_coverage`` of the time from ``counted_from`` to ``now``
      (``READINGS_STALE``): a meter silent for days no longer shows the rate of use.

    Both bounds are inclusive: exactly ``min_days`` days, or exactly ``min_coverage``, is enough.
    """
    if counted_from is None or counted_to is None:
        return NO_READINGS
    span = counted_to - counted_from
    if span < timedelta(days=min_days) or span <= timedelta(0):
        return TOO_FEW_DAYS
    elapsed = max(now, counted_to) - counted_from
    if span / elapsed < min_coverage:
        return READINGS_STALE
    return None
