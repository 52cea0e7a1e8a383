"""Energy used between two instants, read off a meter's cumulative register.

Pure functions (no ORM, settings or I/O). Billing, both readings stores and the series
buckets all go through `consumption_from_run`, so every "energy used" figure the product
shows follows one rule: docs/readings.md#the-consumption-rule.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import compress
from operator import gt
from typing import NamedTuple

from readings.types import Consumption

KWH = Decimal("0.001")
_MICROSECOND = timedelta(microseconds=1)


class RegisterPoint(NamedTuple):
    timestamp: datetime
    energy_kwh: Decimal


class RegisterRun(NamedTuple):
    """The readings of one meter inside one interval, reduced to what the rule needs.

    `energy_kwh` is the consumption from `first` to `last` (positive steps, a drop
    counting its new value) and `resets` the number of drops between them.
    Stores compute runs close to the data and hand them to `consumption_from_run`.
    (A tuple: a month of hourly buckets builds hundreds per request.)
    """

    count: int
    first: RegisterPoint
    last: RegisterPoint
    energy_kwh: Decimal
    resets: int


def to_kwh(value) -> Decimal:
    """A register value as an exact Decimal (floats through their shortest repr)."""
    if type(value) is float:
        if value - value != 0:  # NaN or infinity
            raise ValueError(f"Register value {value!r} is not a finite number.")
        return Decimal(repr(value))
    result = value if isinstance(value, Decimal) else Decimal(value)
    if not result.is_finite():
        raise ValueError(f"Register value {value!r} is not a finite number.")
    return result


def quantize_kwh(value: Decimal) -> Decimal:
    return value.quantize(KWH, rounding=ROUND_HALF_UP)


def run_from_registers(values: Sequence, *, first_at: datetime, last_at: datetime) -> RegisterRun:
    """Reduce the register values of consecutive readings (in time order) to a run.

    Detection runs on the raw values (fast for floats); only the few numbers that
    enter the sum are turned into Decimals.
    """
    if not values:
        raise ValueError("A register run needs at least one reading.")
    first = to_kwh(values[0])
    last = to_kwh(values[-1])
    # The value before each drop (previous > current), at C speed; a register that
    # never drops (the usual case) is recognised by being already sorted.
    drops = [] if values == sorted(values) else list(compress(values, map(gt, values, values[1:])))
    energy = last - first
    for value in drops:
        energy += to_kwh(value)
    return RegisterRun(len(values), RegisterPoint(first_at, first), RegisterPoint(last_at, last), energy, len(drops))


def run_from_parts(*, count: int, first: RegisterPoint, last: RegisterPoint, drop_values: Iterable) -> RegisterRun:
    """Build a run from its first and last register and the values just before each drop.

    Summing the steps telescopes: (last - first) + the value lost at every drop.
    """
    energy = last.energy_kwh - first.energy_kwh
    resets = 0
    for value in drop_values:
        energy += to_kwh(value)
        resets += 1
    return RegisterRun(count=count, first=first, last=last, energy_kwh=energy, resets=resets)


def register_between(before: RegisterPoint, after: RegisterPoint, at: datetime) -> Decimal:
    """The register at `at`, interpolated linearly between two consecutive readings."""
    if at == after.timestamp:  # the boundary falls on a reading (meters report on the minute)
        return after.energy_kwh
    span = after.timestamp - before.timestamp
    if span <= timedelta(0):
        return after.energy_kwh
    fraction = Decimal((at - before.timestamp) // _MICROSECOND) / Decimal(span // _MICROSECOND)
    if after.energy_kwh >= before.energy_kwh:
        return before.energy_kwh + (after.energy_kwh - before.energy_kwh) * fraction
    # A drop: the register restarted from zero right after `before`.
    return after.energy_kwh * fraction


def consumption_from_run(
    device_id: str,
    *,
    start: datetime,
    end: datetime,
    before: RegisterPoint | None,
    run: RegisterRun | None,
    after: RegisterPoint | None,
) -> Consumption:
    """Consumption over [start, end) from the readings inside it (`run`, None when
    there are none), the last reading before `start` and the first at/after `end`."""
    _check_period(start, end)
    unrounded = _unrounded(start, end, before, run, after, None)
    if unrounded is None:
        return _consumption(device_id, run, None)
    opened_at = start if before is not None else run.first.timestamp
    closed_at = end if after is not None else run.last.timestamp
    return _consumption(device_id, run, unrounded, opened_at=opened_at, closed_at=closed_at)


def _unrounded(start, end, before, run, after, start_register):
    """The rule itself: (energy, resets, register at start, register at end), unrounded.

    `start_register`, when given, is the register at `start` already interpolated
    on the same step (adjacent buckets share their boundary).
    """
    if run is None:
        if before is None or after is None:
            return None
        # A gap spans the whole period: the share of the step that falls inside it.
        if start_register is None:
            start_register = register_between(before, after, start)
        end_register = register_between(before, after, end)
        return end_register - start_register, 0, start_register, end_register

    energy = run.energy_kwh
    resets = run.resets
    if before is not None:
        # A drop between `before` and the first reading happened before `start`,
        # so the interpolated register is never above the first reading.
        if start_register is None:
            start_register = register_between(before, run.first, start)
        energy += run.first.energy_kwh - start_register
    else:
        start_register = run.first.energy_kwh
    end_register = run.last.energy_kwh
    if after is not None:
        end_register = register_between(run.last, after, end)
        if after.energy_kwh < run.last.energy_kwh:
            energy += end_register
            resets += 1
        else:
            energy += end_register - run.last.energy_kwh
    return energy, resets, start_register, end_register


def _consumption(device_id: str, run: RegisterRun | None, unrounded, *, opened_at=None, closed_at=None) -> Consumption:
    if unrounded is None:
        return Consumption(device_id, Decimal("0.000"), None, None, None, None, 0, 0)
    energy, resets, start_register, end_register = unrounded
    return Consumption(
        device_id,
        quantize_kwh(energy),
        quantize_kwh(start_register),
        quantize_kwh(end_register),
        run.first.timestamp if run else None,
        run.last.timestamp if run else None,
        run.count if run else 0,
        resets,
        opened_at,
        closed_at,
    )


def _walk_intervals(intervals, before, after):
    """The unrounded rule for each interval in time order, neighbours taken from the runs."""
    shared_end = shared_register = None
    last_index = len(intervals) - 1
    for index, (start, end, run) in enumerate(intervals):
        if start > end:
            _check_period(start, end)
        previous = intervals[index - 1][2].last if index else before
        following = intervals[index + 1][2].first if index < last_index else after
        reuse = shared_register if start == shared_end and previous is not None else None
        unrounded = _unrounded(start, end, previous, run, following, reuse)
        shared_end, shared_register = end, unrounded[3]
        yield run, unrounded


def energy_per_interval(
    intervals: Sequence[tuple[datetime, datetime, RegisterRun]],
    *,
    before: RegisterPoint | None,
    after: RegisterPoint | None,
) -> list[Decimal]:
    """The energy of each of several non-empty intervals in time order (series buckets).

    Readings between intervals do not exist by construction, so each interval's
    neighbours are the last reading of the previous interval and the first of
    the next one; `before`/`after` bracket the whole sequence.
    """
    return [quantize_kwh(unrounded[0]) for _, unrounded in _walk_intervals(intervals, before, after)]


def normalize_points(points: Iterable[tuple[datetime, object]]) -> list[RegisterPoint]:
    """Sort by time and keep one value per instant (the highest: order-independent).

    Only plain points can hold two: a store keeps the first register at an instant and
    refuses a different one (docs/readings.md#the-consumption-rule).
    """
    best: dict[datetime, Decimal] = {}
    for timestamp, energy in points:
        _check_aware(timestamp, "reading timestamp")
        value = to_kwh(energy)
        current = best.get(timestamp)
        if current is None or value > current:
            best[timestamp] = value
    return [RegisterPoint(timestamp, best[timestamp]) for timestamp in sorted(best)]


def consumption_from_registers(
    device_id: str, points: Iterable[tuple[datetime, object]], start: datetime, end: datetime
) -> Consumption:
    """Energy used by one meter over [start, end) from (timestamp, register) points.

    `points` may come in any order and hold duplicates; to interpolate at the
    boundaries it should include the last reading before `start` and the first
    at/after `end` when they exist (extra readings further out are ignored).
    """
    _check_period(start, end)
    ordered = normalize_points(points)
    times = [point.timestamp for point in ordered]
    first_inside = bisect_left(times, start)
    first_after = bisect_left(times, end)
    inside = ordered[first_inside:first_after]
    before = ordered[first_inside - 1] if first_inside > 0 else None
    after = ordered[first_after] if first_after < len(ordered) else None
    run = None
    if inside:
        run = run_from_registers(
            [point.energy_kwh for point in inside], first_at=inside[0].timestamp, last_at=inside[-1].timestamp
        )
    return consumption_from_run(device_id, start=start, end=end, before=before, run=run, after=after)


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}.")


def _check_period(start: datetime, end: datetime) -> None:
    _check_aware(start, "start")
    _check_aware(end, "end")
    if start > end:
        raise ValueError(f"start ({start.isoformat()}) is after end ({end.isoformat()}).")
