"""Reading quality: which steps of a meter's register count as energy.

Pure (no ORM, settings or I/O); both readings stores go through it by way of
readings.consumption, so a glitch is excluded the same way everywhere.
The rules and worked examples: docs/readings.md#reading-quality.

A meter's readings in time order are walked from an accepted reading (the *anchor*)
to the next reading. A step is *normal* when the register does not fall and the
power it implies stays within the meter's limit (sanctioned load x margin). Any
other step looks at the reading after it:

- the next reading returns to the trend (normal from the anchor): a *glitch*, excluded;
- a drop that the next reading continues from: a *rollover* when the meter declares
  its register digits and the anchor was in the top tenth of the range (counts the
  wrap), else a *reset* (counts the new value);
- a rise that the next reading continues from: *implausible*, excluded; it counts 0
  and later readings continue from its level;
- no next reading yet: *unconfirmed* (counts nothing until one arrives).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import sub
from typing import NamedTuple

from readings.types import ExcludedReading

DEFAULT_SANCTIONED_LOAD_KW = Decimal("5")
DEFAULT_MARGIN = Decimal("1.5")
ROLLOVER_TOP_SHARE = Decimal("0.9")  # a drop from the top tenth of the register range wraps

NORMAL = "normal"
GLITCH = "glitch"
IMPLAUSIBLE = "implausible"
RESET = "reset"
ROLLOVER = "rollover"
UNCONFIRMED = "unconfirmed"
EXCLUDED_KINDS = (GLITCH, IMPLAUSIBLE, UNCONFIRMED)

_MICROSECONDS_PER_HOUR = 3_600_000_000
_MICROSECOND = timedelta(microseconds=1)
# The float pre-check is kept a hair stricter than the exact rule, so a step it lets
# through is plausible for the exact (Decimal) check too.
_FAST_SLACK = 0.999999


@dataclass(frozen=True, slots=True)
class Limits:
    """What a meter can plausibly record: its largest power and its register's width."""

    max_kw: Decimal  # sanctioned load x READING_PLAUSIBLE_MARGIN
    register_digits: int | None = None  # None: the register never rolls over

    @classmethod
    def for_meter(cls, sanctioned_load_kw, margin, register_digits=None) -> "Limits":
        return cls(Decimal(sanctioned_load_kw) * Decimal(margin), register_digits)


DEFAULT_LIMITS = Limits(DEFAULT_SANCTIONED_LOAD_KW * DEFAULT_MARGIN)


class Point(NamedTuple):
    """A reading's instant and register (readings.consumption.RegisterPoint has the same shape)."""

    timestamp: datetime
    energy_kwh: Decimal


class Step(NamedTuple):
    """How the reading at `index` was classified, from the accepted reading at `anchor`."""

    index: int
    anchor: int
    kind: str
    contribution: Decimal  # kWh this step counts (0 for excluded readings)


def is_plain(epochs: Sequence[float], values: Sequence, limits: Limits) -> bool:
    """Fast pre-check (C-speed passes): the register never falls and no step can be implausible.

    True guarantees `classify` would find every step normal; False only means the
    exact walk is needed. `epochs` are seconds, `values` the raw registers.
    """
    if values != sorted(values):
        return False
    if len(values) < 2:
        return True
    largest_step = max(map(sub, values[1:], values))
    shortest_gap = min(map(sub, epochs[1:], epochs))
    return float(largest_step) <= float(limits.max_kw) / 3600 * shortest_gap * _FAST_SLACK


def is_normal(anchor: Point, point: Point, limits: Limits) -> bool:
    """The register did not fall and the implied power is within the limit (exact)."""
    step = point.energy_kwh - anchor.energy_kwh
    if step < 0:
        return False
    elapsed = (point.timestamp - anchor.timestamp) // _MICROSECOND
    return step * _MICROSECONDS_PER_HOUR <= limits.max_kw * elapsed


def classify(points: Sequence[Point], limits: Limits) -> list[Step]:
    """Classify every reading after the first (taken as accepted), in time order."""
    steps: list[Step] = []
    anchor = 0
    last = len(points) - 1
    for index in range(1, len(points)):
        start, point = points[anchor], points[index]
        if is_normal(start, point, limits):
            steps.append(Step(index, anchor, NORMAL, point.energy_kwh - start.energy_kwh))
            anchor = index
            continue
        if index == last:
            steps.append(Step(index, anchor, UNCONFIRMED, Decimal(0)))
            continue
        if is_normal(start, points[index + 1], limits):
            steps.append(Step(index, anchor, GLITCH, Decimal(0)))
            continue
        if point.energy_kwh < start.energy_kwh:
            if _wraps(start.energy_kwh, limits):
                wrapped = Decimal(10) ** limits.register_digits - start.energy_kwh + point.energy_kwh
                steps.append(Step(index, anchor, ROLLOVER, wrapped))
            else:
                steps.append(Step(index, anchor, RESET, point.energy_kwh))
        else:
            steps.append(Step(index, anchor, IMPLAUSIBLE, Decimal(0)))
        anchor = index
    return steps


def register_within(step: Step, points: Sequence[Point], at: datetime, limits: Limits) -> Decimal:
    """The register at `at`, inside the (accepted) step from its anchor to its reading."""
    before, after = points[step.anchor], points[step.index]
    if at >= after.timestamp:
        return after.energy_kwh
    if step.kind == IMPLAUSIBLE:  # never interpolate towards an excluded reading
        return before.energy_kwh
    fraction = _fraction(before.timestamp, after.timestamp, at)
    if step.kind == RESET:  # the register restarted from zero right after `before`
        return after.energy_kwh * fraction
    if step.kind == ROLLOVER:
        register = before.energy_kwh + step.contribution * fraction
        top = Decimal(10) ** limits.register_digits
        return register - top if register >= top else register
    return before.energy_kwh + step.contribution * fraction


def share_inside(step: Step, points: Sequence[Point], start: datetime, end: datetime) -> Decimal:
    """The part of the step's time span that falls in [start, end) (steps count evenly over time)."""
    since, until = points[step.anchor].timestamp, points[step.index].timestamp
    if until <= since:
        return Decimal(1) if start <= until < end else Decimal(0)
    low, high = max(since, start), min(until, end)
    if high <= low:
        return Decimal(0)
    if low == since and high == until:
        return Decimal(1)
    return Decimal((high - low) // _MICROSECOND) / Decimal((until - since) // _MICROSECOND)


def excluded_reading(step: Step, points: Sequence[Point], limits: Limits) -> ExcludedReading:
    """The plain-words record of an excluded reading (kind glitch, implausible or unconfirmed)."""
    anchor, point = points[step.anchor], points[step.index]
    if point.energy_kwh < anchor.energy_kwh:
        what = f"drops from {_kwh(anchor.energy_kwh)} to {_kwh(point.energy_kwh)}"
    else:
        minutes = (point.timestamp - anchor.timestamp) / timedelta(minutes=1)
        allowed = limits.max_kw * Decimal((point.timestamp - anchor.timestamp) // _MICROSECOND) / 3_600_000_000
        what = (
            f"rises by {_kwh(point.energy_kwh - anchor.energy_kwh)} kWh in {minutes:g} min, "
            f"more than the {_kwh(limits.max_kw)} kW limit allows ({_kwh(allowed)} kWh)"
        )
    if step.kind == GLITCH:
        following = points[step.index + 1]
        reason = f"{what} and the next reading returns to {_kwh(following.energy_kwh)}"
    elif step.kind == IMPLAUSIBLE:
        reason = f"{what}; later readings continue from it, so the step counts 0 kWh"
    else:
        reason = f"{what}; no later reading yet to tell a glitch from a reset or a real step"
    return ExcludedReading(point.timestamp, point.energy_kwh, step.kind, reason)


def _wraps(previous: Decimal, limits: Limits) -> bool:
    digits = limits.register_digits
    return digits is not None and previous >= ROLLOVER_TOP_SHARE * Decimal(10) ** digits


def _fraction(since: datetime, until: datetime, at: datetime) -> Decimal:
    span = (until - since) // _MICROSECOND
    if span <= 0:
        return Decimal(1)
    return Decimal((at - since) // _MICROSECOND) / Decimal(span)


def _kwh(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))
