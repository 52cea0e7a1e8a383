"""Reads of readings, for every other part of the product.

Billing, the dashboard, the admin and the API call these; none of them touches
a store. The store in use (SQL or MongoDB) gives the same answers.
"""

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from readings.stores import get_store
from readings.types import Consumption, Reading


def reading_latest(device_id: str) -> Reading | None:
    """The meter's newest reading by its own timestamp, or None."""
    return get_store().latest(device_id)


def readings_latest_many(*, device_ids: Iterable[str]) -> dict[str, Reading]:
    """The newest reading of each listed meter that has one (bounded number of queries)."""
    return get_store().latest_many(list(device_ids))


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
    return get_store().series(device_id, start=start, end=end, agg=agg, tz=tz or settings.TIME_ZONE, limit=limit)


def device_consumption(*, device_id: str, start: datetime, end: datetime) -> Consumption:
    """Energy used by one meter over [start, end), by the register rule (docs/readings.md)."""
    return get_store().consumption(device_id, start=start, end=end)


def devices_consumption(*, device_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, Consumption]:
    """Energy used by each meter over [start, end), in a bounded number of queries.
    Every listed meter has an entry (zero, `has_readings` False, when it sent nothing)."""
    return get_store().consumption_many(list(device_ids), start=start, end=end)


def readings_count(*, device_id: str | None = None, since: datetime | None = None) -> int:
    """Readings stored, optionally for one meter and/or with a timestamp at or after `since`."""
    return get_store().count(device_id, since=since)
