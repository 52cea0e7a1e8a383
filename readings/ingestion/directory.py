"""The registered meters validation asks about, cached for a few seconds.

Refreshed with one query per batch, never one per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from devices.models import Device
from readings.ingestion.validation import DeviceInfo


class DeviceDirectory:
    """Registered meters by public id, as validation needs them; entries live `ttl` seconds.

    A meter registered, decommissioned or exchanged while the consumer runs is seen within `ttl`.
    Unknown ids are cached too (as absent), so a flood from an unregistered meter costs
    no queries.
    """

    def __init__(self, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, DeviceInfo | None]] = {}

    def prefetch(self, device_ids: Iterable[str]) -> None:
        """Load every id not cached (or expired) with a single query."""
        now = self._clock()
        wanted = {device_id for device_id in device_ids if self._expired(device_id, now)}
        if not wanted:
            return
        # A meter goes out by one exchange at most, so the join keeps one row per meter.
        rows = Device.objects.filter(device_id__in=wanted).values_list(
            "device_id",
            "status",
            "location",
            "payload_format",
            "exchanges_out__exchanged_at",
            "exchanges_out__new_device__device_id",
        )
        found = {
            device_id: DeviceInfo(
                device_id,
                decommissioned=status == Device.Status.DECOMMISSIONED,
                location=location,
                exchanged_at=exchanged_at,
                exchanged_for=exchanged_for or "",
                payload_format=payload_format,
            )
            for device_id, status, location, payload_format, exchanged_at, exchanged_for in rows
        }
        for device_id in wanted:
            self._entries[device_id] = (now, found.get(device_id))
        if len(self._entries) > 200_000:  # a flood of random ids must not grow memory without bound
            self._entries = {key: value for key, value in self._entries.items() if value[1] is not None}

    def lookup(self, device_id: str) -> DeviceInfo | None:
        """The cached answer; only an id never seen is fetched here (call `prefetch` per batch)."""
        entry = self._entries.get(device_id)
        if entry is None:
            self.prefetch([device_id])
            entry = self._entries[device_id]
        return entry[1]

    def _expired(self, device_id: str, now: float) -> bool:
        entry = self._entries.get(device_id)
        return entry is None or now - entry[0] >= self.ttl
