"""Reads of readings, for every other part of the product.

Billing, the dashboard, the admin and the API call these; none of them touches
a store. The store in use (SQL or MongoDB) gives the same answers.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count

from devices.models import Device
from readings.models import DeadLetter
from readings.quality import DEFAULT_SANCTIONED_LOAD_KW, Limits
from readings.stores import get_store
from readings.types import Consumption, Reading


def reading_latest(device_id: str) -> Reading | None:
    """The meter's newest reading by its own timestamp, or None."""
    return get_store().latest(device_id)


def readings_latest_many(*, device_ids: Iterable[str]) -> dict[str, Reading]:
    """The newest reading of each listed meter that has one (bounded number of queries; none for no meters)."""
    device_ids = list(device_ids)
    if not device_ids:
        return {}
    return get_store().latest_many(device_ids)


def readings_series(
    *,
    device_id: str,
    start: datetime,
    end: datetime,
    agg: str = "hour",
    tz: str | ZoneInfo | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Readings of a meter in [start, end), raw or in wall-clock buckets of `tz`
    (default settings.TIME_ZONE). Row shapes: readings.stores.base.ReadingStore.series."""
    limits = meter_limits([device_id])[device_id] if agg != "raw" else None
    return get_store().series(
        device_id, start=start, end=end, agg=agg, tz=tz or settings.TIME_ZONE, limit=limit, limits=limits
    )


def readings_raw_chunks(*, device_id: str, start: datetime, end: datetime, chunk_size: int) -> Iterator[list[Reading]]:
    """A meter's readings in [start, end), oldest first, in lists of at most `chunk_size`, read from
    the store in batches of that size (bounded memory over any range)."""
    return get_store().raw_chunks(device_id, start=start, end=end, chunk_size=chunk_size)


# Two days of one reading every few seconds; the back office asks for shorter ranges beyond that.
TABLE_RAW_ROWS_LIMIT = 50_000


def readings_table(*, device_id: str, start: datetime, end: datetime, agg: str) -> list[dict]:
    """A meter's readings as the back office lists them, in settings.TIME_ZONE, one shape for raw and buckets.

    Each row: ``at`` plus power_w, voltage, current, power_factor; raw rows add
    register_kwh and rssi, aggregated rows add power_w_max, energy_kwh and count.
    """
    limit = TABLE_RAW_ROWS_LIMIT if agg == "raw" else None
    rows = readings_series(device_id=device_id, start=start, end=end, agg=agg, limit=limit)
    if agg == "raw":
        return [
            {
                "at": row["timestamp"],
                "power_w": row["power_w"],
                "voltage": row["voltage"],
                "current": row["current"],
                "power_factor": row["power_factor"],
                "register_kwh": row["energy_kwh"],
                "rssi": row["rssi"],
            }
            for row in rows
        ]
    return [
        {
            "at": row["bucket"],
            "power_w": row["power_w_avg"],
            "power_w_max": row["power_w_max"],
            "voltage": row["voltage_avg"],
            "current": row["current_avg"],
            "power_factor": row["power_factor_avg"],
            "energy_kwh": float(row["energy_kwh"]) if row["energy_kwh"] is not None else None,
            "count": row["count"],
        }
        for row in rows
    ]


def meter_limits(device_ids: Iterable[str]) -> dict[str, Limits]:
    """Each meter's reading-quality limits (sanctioned load x READING_PLAUSIBLE_MARGIN, register
    digits) in one query; a meter not registered gets the default 5 kW and no rollover."""
    device_ids = list(device_ids)
    margin = settings.READING_PLAUSIBLE_MARGIN
    limits = {device_id: Limits.for_meter(DEFAULT_SANCTIONED_LOAD_KW, margin) for device_id in device_ids}
    if device_ids:
        rows = Device.objects.filter(device_id__in=device_ids).values_list(
            "device_id", "sanctioned_load_kw", "register_digits"
        )
        for device_id, sanctioned_load_kw, register_digits in rows:
            limits[device_id] = Limits.for_meter(sanctioned_load_kw, margin, register_digits)
    return limits


def device_consumption(*, device_id: str, start: datetime, end: datetime) -> Consumption:
    """Energy used by one meter over [start, end), by the register rule (docs/readings.md)."""
    return devices_consumption(device_ids=[device_id], start=start, end=end)[device_id]


def devices_consumption(*, device_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, Consumption]:
    """Energy used by each meter over [start, end), in a bounded number of queries (one more
    for the meters' limits). Every listed meter has an entry (zero, `has_readings` False,
    when it sent nothing); readings classified by docs/readings.md#reading-quality."""
    device_ids = list(device_ids)
    return get_store().consumption_many(device_ids, start=start, end=end, limits=meter_limits(device_ids))


def readings_count(*, device_id: str | None = None, since: datetime | None = None) -> int:
    """Readings stored, optionally for one meter and/or with a timestamp at or after `since`."""
    return get_store().count(device_id, since=since)


def dead_letters_count_by_reason(*, since: datetime) -> list[tuple[str, int]]:
    """Telemetry rejected at or after ``since``, per reason, most frequent first."""
    rejected = (
        DeadLetter.objects.filter(received_at__gte=since)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    )
    return [(reason, n) for reason, n in rejected]


def dead_letters_count() -> int:
    """Dead letters kept (the consumer trims the table to DEAD_LETTER_MAX_ROWS)."""
    return DeadLetter.objects.count()


def dead_letters_recent(*, device_id: str, limit: int = 5) -> list[DeadLetter]:
    """A meter's newest refused messages, newest first (why its telemetry was not taken)."""
    return list(DeadLetter.objects.filter(device_id=device_id).order_by("-received_at", "-id")[:limit])
