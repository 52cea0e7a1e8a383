"""Wall-clock buckets shared by both stores.

The databases key a bucket by its naive local start; here those keys become aware labels,
bucket ends and rows with per-bucket energy, and `offset_periods` lists the UTC offsets in
force over a range. docs/readings.md#aggregated-series
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from readings.consumption import (
    RegisterPoint,
    RegisterRun,
    energy_per_interval,
    energy_per_interval_classified,
    register_falls,
)
from readings.quality import DEFAULT_LIMITS, Limits
from readings.types import Reading, phases_as_dict

EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: wall-clock keys count from here
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class BucketGroup(NamedTuple):
    """What a store's aggregation yields for one bucket of one meter."""

    key: datetime  # naive wall-clock start of the bucket
    run: RegisterRun
    power_w_avg: float | None = None
    power_w_max: float | None = None
    power_w_min: float | None = None
    voltage_avg: float | None = None
    current_avg: float | None = None
    power_factor_avg: float | None = None


def zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


def as_utc(value) -> datetime:
    """A timestamp read back from a database, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def stored_instant(value: datetime) -> datetime:
    """The instant as stored: UTC, truncated to the millisecond (BSON's precision)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Reading timestamps must be timezone-aware, got {value!r}.")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _offset(moment: datetime, tz: ZoneInfo) -> int:
    return int(moment.astimezone(tz).utcoffset().total_seconds())


def offset_periods(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime | None, int]]:
    """The UTC offsets (seconds) in force over [start, end): [(until, offset), ..., (None, offset)].

    `until` is the UTC instant the next offset starts. Probed a day at a time
    (zones change offset at most a few times a year), then bisected to the second.
    """
    periods: list[tuple[datetime | None, int]] = []
    low = start.astimezone(UTC)
    offset = _offset(low, tz)
    while low < end:
        high = min(low + timedelta(days=1), end)
        if _offset(high, tz) == offset:
            low = high
            continue
        # Offsets change on whole seconds: find the first second with the new one.
        low_second, high_second = int(low.timestamp()), int(high.timestamp()) + 1
        while high_second - low_second > 1:
            middle = (low_second + high_second) // 2
            if _offset(datetime.fromtimestamp(middle, UTC), tz) == offset:
                low_second = middle
            else:
                high_second = middle
        change = datetime.fromtimestamp(high_second, UTC)
        periods.append((change, offset))
        offset = _offset(change, tz)
        low = change
    periods.append((None, offset))
    return periods


def month_starts(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Local month starts from the one holding `start` to the last before `end`:
    [(naive wall-clock start, aware UTC instant)]."""
    local = start.astimezone(tz)
    month = datetime(local.year, local.month, 1)  # noqa: DTZ001 - wall-clock key
    starts = []
    while True:
        instant = month.replace(tzinfo=tz).astimezone(UTC)
        if starts and instant >= end:
            return starts
        starts.append((month, instant))
        month = next_month(month)


def next_month(value: datetime) -> datetime:
    return value.replace(year=value.year + value.month // 12, month=value.month % 12 + 1)


def key_from_seconds(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


def key_seconds(key: datetime) -> int:
    return int((key - EPOCH).total_seconds())


def bucket_label(key: datetime, tz: ZoneInfo) -> datetime:
    return key.replace(tzinfo=tz)


def bucket_end(key: datetime, agg: str, tz: ZoneInfo) -> datetime:
    """The instant the next bucket starts (wall-clock arithmetic), aware in `tz`."""
    if agg == "month":
        following = next_month(key)
    elif agg == "week":
        following = key + timedelta(days=7)
    else:
        following = key + timedelta(seconds=UNIT_SECONDS[agg])
    return following.replace(tzinfo=tz)


def build_series(
    device_id: str,
    *,
    agg: str,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    groups: list[BucketGroup],
    before: RegisterPoint | None,
    after: RegisterPoint | None,
    limits: Limits | None = None,
    points: Callable[[], Sequence[RegisterPoint]] | None = None,
) -> list[dict]:
    """Bucket rows with energy from the consumption rule, each bucket clipped to [start, end).

    When the register falls somewhere in the range (a glitch, a reset, a rollover), the readings
    are classified (docs/readings.md#reading-quality) from `points`, which loads the range's
    readings in time order; otherwise the runs' totals are used as they are.
    """
    labels = [bucket_label(group.key, tz) for group in groups]
    intervals = [
        (max(label, start), min(bucket_end(group.key, agg, tz), end), group.run)
        for label, group in zip(labels, groups, strict=True)
    ]
    runs = [group.run for group in groups]
    if points is not None and register_falls(runs, before=before, after=after):
        readings = [*([before] if before else []), *points(), *([after] if after else [])]
        bounds = [(interval_start, interval_end) for interval_start, interval_end, _ in intervals]
        energies = energy_per_interval_classified(bounds, readings, limits or DEFAULT_LIMITS)
    else:
        energies = energy_per_interval(intervals, before=before, after=after)
    return [
        {
            "bucket": label,
            "power_w_avg": group.power_w_avg,
            "power_w_max": group.power_w_max,
            "power_w_min": group.power_w_min,
            "voltage_avg": group.voltage_avg,
            "current_avg": group.current_avg,
            "power_factor_avg": group.power_factor_avg,
            "energy_kwh": energy,
            "count": group.run.count,
        }
        for label, group, energy in zip(labels, groups, energies, strict=True)
    ]


def raw_row(reading: Reading, tz: ZoneInfo) -> dict:
    return {
        "timestamp": reading.timestamp.astimezone(tz),
        "voltage": reading.voltage,
        "current": reading.current,
        "power_w": reading.power_w,
        "energy_kwh": reading.energy_kwh,
        "power_factor": reading.power_factor,
        "rssi": reading.rssi,
        "energy_export_kwh": reading.energy_export_kwh,
        "phases": phases_as_dict(reading.phases),
        "registers": dict(reading.registers) or None,
    }
