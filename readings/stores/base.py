"""The one interface every readings store implements.

Two backends stand behind it (see docs/readings.md): `sql` (a Django model) and
`mongo` (a MongoDB time-series collection). Both pass tests/readings/test_store_contract.py,
so callers (through readings.selectors) get the same answers from either.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from readings.quality import Limits
from readings.types import Consumption, Reading

AGGREGATIONS = ("raw", "minute", "hour", "day", "week", "month")


class ReadingStore(ABC):
    name: str = ""

    @abstractmethod
    def write_many(self, readings: Sequence[Reading]) -> int:
        """Store a batch; return how many were new.

        A reading whose (device_id, timestamp) is already stored, or repeated in
        the batch, is skipped: QoS 1 redelivery never creates a second reading.
        Timestamps are stored to the millisecond (MongoDB's precision) in both stores.
        """

    @abstractmethod
    def registers_at(self, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], Decimal]:
        """The stored register of each (device_id, instant) that has a reading, in a bounded
        number of queries; keys without one are left out.

        Keys come back as stored (UTC, to the millisecond: `buckets.stored_instant`), values
        exactly (`consumption.to_kwh`). The ingest path asks this only for readings that
        `write_many` did not store, to refuse a second, different register at an instant
        (docs/ingestion.md#two-registers-at-one-instant).
        """

    @abstractmethod
    def latest(self, device_id: str) -> Reading | None:
        """The newest reading of a meter by its timestamp (not by arrival)."""

    @abstractmethod
    def latest_many(self, device_ids: Iterable[str]) -> dict[str, Reading]:
        """The newest reading of each meter that has one, in a bounded number of queries."""

    @abstractmethod
    def series(
        self,
        device_id: str,
        *,
        start: datetime,
        end: datetime,
        agg: str,
        tz: str | ZoneInfo,
        limit: int | None = None,
        limits: Limits | None = None,
    ) -> list[dict]:
        """Readings in [start, end), raw or aggregated into wall-clock buckets of `tz`; bucket energy
        follows the reading-quality rule with the meter's `limits` (default: 5 kW x 1.5, no rollover).

        agg="raw": one dict per reading, oldest first, at most `limit`:
            {"timestamp" (aware, in tz), "voltage", "current", "power_w",
             "energy_kwh" (the register), "power_factor", "rssi"}
        otherwise one dict per bucket holding readings, oldest first:
            {"bucket" (aware start, in tz), "power_w_avg", "power_w_max", "power_w_min",
             "voltage_avg", "current_avg", "power_factor_avg",
             "energy_kwh" (Decimal, the consumption rule over the bucket, clipped to
             [start, end)), "count"}
        """

    @abstractmethod
    def raw_chunks(self, device_id: str, *, start: datetime, end: datetime, chunk_size: int) -> Iterator[list[Reading]]:
        """A meter's readings in [start, end), oldest first, in lists of at most `chunk_size`.

        The store reads them in batches of that size (a server-side cursor), so a range of any
        length is walked in bounded memory: the CSV export streams a year of readings this way.
        """

    @abstractmethod
    def consumption_many(
        self,
        device_ids: Iterable[str],
        *,
        start: datetime,
        end: datetime,
        limits: Mapping[str, Limits] | None = None,
    ) -> dict[str, Consumption]:
        """Consumption of every listed meter over [start, end) (readings.consumption rule,
        readings classified by readings.quality against each meter's `limits`, default
        quality.DEFAULT_LIMITS), in a bounded number of queries; meters without readings
        get a zero entry."""

    @abstractmethod
    def count(self, device_id: str | None = None, *, since: datetime | None = None) -> int:
        """Readings stored (for one meter, and/or with a timestamp at or after `since`)."""

    def consumption(
        self, device_id: str, *, start: datetime, end: datetime, limits: Limits | None = None
    ) -> Consumption:
        wanted = {device_id: limits} if limits is not None else None
        return self.consumption_many([device_id], start=start, end=end, limits=wanted)[device_id]

    def ping(self) -> None:
        """Raise if the store cannot answer (used by /health)."""
        self.count(since=timezone.now() + timedelta(days=1))


def check_range(start: datetime, end: datetime) -> None:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime.")
    if start > end:
        raise ValueError("start must not be after end.")


def check_agg(agg: str) -> None:
    if agg not in AGGREGATIONS:
        raise ValueError(f"Unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}.")
