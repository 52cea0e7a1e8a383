"""Energy used between two instants, read off a meter's cumulative register.

Pure functions (no ORM, settings or I/O). Billing, both readings stores and the series
buckets all go through `consumption_from_run`, so every "energy used" figure the product
shows follows one rule: docs/readings.md#the-consumption-rule.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import compress
from operator import gt
from typing import NamedTuple

from readings import quality
from readings.quality import DEFAULT_LIMITS, Limits
from readings.types import Consumption

KWH = Decimal("0.001")
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RegisterPoint(NamedTuple):
    timestamp: datetime
    energy_kwh: Decimal


class RegisterRun(NamedTuple):
    """The readings of one meter inside one interval, reduced to what the rule needs.

    `energy_kwh` is the consumption from `first` to `last` (positive steps, a drop
    counting its new value) and `resets` the number of drops between them.
    `points` holds every reading of the run, and only when the readings need the
    reading-quality walk (readings.quality: a drop or a step too large for the meter,
    inside the run or at its edges); otherwise the totals are the whole story.
    Stores compute runs close to the data and hand them to `consumption_from_run`.
    (A tuple: a month of hourly buckets builds hundreds per request.)
    """

    count: int
    first: RegisterPoint
    last: RegisterPoint
    energy_kwh: Decimal
    resets: int
    points: tuple[RegisterPoint, ...] | None = None


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


def run_from_registers(
    values: Sequence,
    *,
    first_at: datetime,
    last_at: datetime,
    epochs: Sequence[float] | None = None,
    limits: Limits | None = None,
) -> RegisterRun:
    """Reduce the register values of consecutive readings (in time order) to a run.

    Detection runs on the raw values (fast for floats); only the few numbers that
    enter the sum are turned into Decimals. With `epochs` (each reading's instant in
    seconds) the run keeps its points when a drop or a step too large for `limits`
    needs the reading-quality walk; without them the plain rule applies (series buckets).
    """
    run = _plain_run(values, first_at=first_at, last_at=last_at)
    if epochs is not None and not quality.is_plain(epochs, values, limits or DEFAULT_LIMITS):
        run = with_points(run, epochs, values)
    return run


def with_points(run: RegisterRun, epochs: Sequence[float], values: Sequence) -> RegisterRun:
    """The run carrying every reading (instants in seconds since 1970, stored to the millisecond)."""
    points = tuple(
        RegisterPoint(_EPOCH + timedelta(milliseconds=round(epoch * 1000)), to_kwh(value))
        for epoch, value in zip(epochs, values, strict=True)
    )
    return run._replace(points=points)


def needs_points(
    before: RegisterPoint | None, run: RegisterRun | None, after: RegisterPoint | None, limits: Limits | None
) -> bool:
    """Whether the rule needs the run's points: a drop or an implausible step at its edges
    (a run already carrying them, or no run, needs nothing more)."""
    if run is None or run.points is not None:
        return False
    limits = limits or DEFAULT_LIMITS
    return (before is not None and not quality.is_normal(before, run.first, limits)) or (
        after is not None and not quality.is_normal(run.last, after, limits)
    )


def _plain_run(values: Sequence, *, first_at: datetime, last_at: datetime) -> RegisterRun:
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
    following: RegisterPoint | None = None,
    limits: Limits | None = None,
) -> Consumption:
    """Consumption over [start, end) from the readings inside it (`run`, None when
    there are none), the last reading before `start`, the first at/after `end` and
    the one after that (`following`, which confirms or excludes `after`).

    Readings are classified by readings.quality against the meter's `limits`
    (default: 5 kW x 1.5, no rollover). When every step is normal (the usual case)
    the run's totals are used as they are; otherwise the run must carry its points
    (`needs_points`), and the steps are walked one by one.
    """
    _check_period(start, end)
    limits = limits or DEFAULT_LIMITS
    if _plain(before, run, after, limits):
        consumption = _consumption(device_id, run, _unrounded(start, end, before, run, after, None))
        if after is not None:
            consumption = replace(consumption, closing_at=after.timestamp, closing_confirmed=True)
    elif run is not None and run.points is None:
        raise ValueError("This run needs its points (readings.consumption.needs_points).")
    else:
        consumption = _classified(device_id, start, end, before, run, after, following, limits)
    if consumption.start_register is None:
        return consumption
    # The span the energy is counted over: interpolated to the period's edges where a
    # reading lies beyond them, else from/to the first/last reading.
    return replace(
        consumption,
        opened_at=start if before is not None else run.first.timestamp,
        closed_at=end if after is not None else run.last.timestamp,
    )


def _plain(before, run, after, limits: Limits) -> bool:
    """Every step the period touches is normal (no drop, nothing implausible)."""
    if run is None:
        return before is None or after is None or quality.is_normal(before, after, limits)
    return run.points is None and not needs_points(before, run, after, limits)


_ACCEPTED = (quality.NORMAL, quality.RESET, quality.ROLLOVER, quality.IMPLAUSIBLE)


def _classified(device_id, start, end, before, run, after, following, limits: Limits) -> Consumption:
    """The rule step by step: each accepted step counts its contribution for the share of
    its time span inside [start, end); excluded readings count nothing."""
    if run is None and (before is None or after is None):
        return _consumption(device_id, None, None)
    points: list[RegisterPoint] = [before] if before is not None else []
    points.extend(run.points if run is not None else ())
    after_index = len(points) if after is not None else None
    if after is not None:
        points.append(after)
        if following is not None:
            points.append(following)
    steps = quality.classify(points, limits)
    accepted = [step for step in steps if step.kind in _ACCEPTED]

    energy = Decimal(0)
    for step in accepted:
        if step.contribution:
            energy += step.contribution * quality.share_inside(step, points, start, end)
    start_register = _register_at(start, accepted, points, limits, before is not None)
    end_register = _register_at(end, accepted, points, limits, True)

    def inside(index: int) -> bool:
        return start <= points[index].timestamp < end

    counted = [step for step in steps if inside(step.anchor)]
    excluded = tuple(
        quality.excluded_reading(step, points, limits)
        for step in steps
        if step.kind in (quality.GLITCH, quality.IMPLAUSIBLE) and inside(step.index)
    )
    unconfirmed = next(
        (
            quality.excluded_reading(step, points, limits)
            for step in steps
            if step.kind == quality.UNCONFIRMED and (inside(step.index) or step.index == after_index)
        ),
        None,
    )
    closing_at, closing_confirmed = None, False
    if after_index is not None:
        closing = next((step for step in steps if step.index == after_index), None)
        closing_at = after.timestamp
        if closing is None or closing.kind in _ACCEPTED:
            closing_confirmed = True
        elif closing.kind == quality.GLITCH:  # the reading after it returns to the trend
            closing_at, closing_confirmed = following.timestamp, True
    resets = sum(1 for step in counted if step.kind == quality.RESET)
    return replace(
        _consumption(device_id, run, (energy, resets, start_register, end_register)),
        rollovers=sum(1 for step in counted if step.kind == quality.ROLLOVER),
        glitches=sum(1 for item in excluded if item.kind == quality.GLITCH),
        implausible=sum(1 for item in excluded if item.kind == quality.IMPLAUSIBLE),
        excluded=excluded,
        closing_at=closing_at,
        closing_confirmed=closing_confirmed,
        unconfirmed=unconfirmed,
    )


def _register_at(at: datetime, accepted, points, limits: Limits, interpolate: bool) -> Decimal:
    """The register at `at`: on the accepted step spanning it, else at the nearest accepted
    reading before it (the first one when nothing comes before)."""
    if interpolate:
        for step in accepted:
            if points[step.anchor].timestamp < at <= points[step.index].timestamp:
                return quality.register_within(step, points, at, limits)
    latest = points[0]
    for step in accepted:
        if points[step.index].timestamp < at:
            latest = points[step.index]
    return latest.energy_kwh if interpolate else points[0].energy_kwh


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


def _consumption(device_id: str, run: RegisterRun | None, unrounded) -> Consumption:
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


def register_falls(runs: Sequence[RegisterRun], *, before: RegisterPoint | None, after: RegisterPoint | None) -> bool:
    """Whether the register falls anywhere in a sequence of runs and its neighbours (a drop inside
    a run, or between one run's last reading and the next reading): only then can a reading
    be a glitch, a reset or a rollover, and the walk in `energy_per_interval_classified` be needed."""
    previous = before.energy_kwh if before is not None else None
    for run in runs:
        if run.resets or (previous is not None and run.first.energy_kwh < previous):
            return True
        previous = run.last.energy_kwh
    return after is not None and previous is not None and after.energy_kwh < previous


def energy_per_interval_classified(
    bounds: Sequence[tuple[datetime, datetime]], points: Sequence[RegisterPoint], limits: Limits
) -> list[Decimal]:
    """The energy of each interval (in time order) from the readings in and around them, classified
    once by readings.quality: excluded readings count nothing, and each accepted step counts for the
    share of its time span inside each interval. `points` are every reading of the intervals, with
    the one before the first and the one after the last when they exist."""
    steps = [step for step in quality.classify(points, limits) if step.contribution and step.kind in _ACCEPTED]
    energies = [Decimal(0)] * len(bounds)
    starts = [start for start, _ in bounds]
    for step in steps:
        since, until = points[step.anchor].timestamp, points[step.index].timestamp
        index = max(bisect_left(starts, since) - 1, 0)
        while index < len(bounds) and bounds[index][0] <= until:
            share = quality.share_inside(step, points, *bounds[index])
            if share:
                energies[index] += step.contribution * share
            index += 1
    return [quantize_kwh(energy) for energy in energies]


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
    device_id: str,
    points: Iterable[tuple[datetime, object]],
    start: datetime,
    end: datetime,
    limits: Limits | None = None,
) -> Consumption:
    """Energy used by one meter over [start, end) from (timestamp, register) points.

    `points` may come in any order and hold duplicates; to interpolate at the
    boundaries it should include the last reading before `start` and the first
    two at/after `end` when they exist (extra readings further out are ignored).
    """
    _check_period(start, end)
    ordered = normalize_points(points)
    times = [point.timestamp for point in ordered]
    first_inside = bisect_left(times, start)
    first_after = bisect_left(times, end)
    inside = ordered[first_inside:first_after]
    before = ordered[first_inside - 1] if first_inside > 0 else None
    after = ordered[first_after] if first_after < len(ordered) else None
    following = ordered[first_after + 1] if first_after + 1 < len(ordered) else None
    run = None
    if inside:
        values = [point.energy_kwh for point in inside]
        epochs = [point.timestamp.timestamp() for point in inside]
        run = run_from_registers(
            values, first_at=inside[0].timestamp, last_at=inside[-1].timestamp, epochs=epochs, limits=limits
        )
        if run.points is not None or needs_points(before, run, after, limits):
            run = run._replace(points=tuple(inside))  # the exact instants, not seconds
    return consumption_from_run(
        device_id, start=start, end=end, before=before, run=run, after=after, following=following, limits=limits
    )


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}.")


def _check_period(start: datetime, end: datetime) -> None:
    _check_aware(start, "start")
    _check_aware(end, "end")
    if start > end:
        raise ValueError(f"start ({start.isoformat()}) is after end ({end.isoformat()}).")
