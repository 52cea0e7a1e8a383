"""Simulated meters: plausible household telemetry for demos, tests and benchmarks (pure, seeded).

Each meter has a base load and a peak load; power follows a daily curve in local time
(a low night, a morning peak around 07:30, a small midday hump, the evening peak around
20:00) with noise and the odd appliance switching on. The energy register only ever
grows, by the energy the simulated power would have used since the previous reading.
A sample holds the physical values; devtools.meter_formats encodes it as each kind of device would.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from devtools.meter_formats import (
    DEFAULT_OPTIONS,
    EncodeOptions,
    Message,
    MeterSample,
    is_night_tariff,
    meter_messages,
    native_body,
)


def _bump(hour: float, centre: float, width: float) -> float:
    distance = min(abs(hour - centre), 24 - abs(hour - centre))  # the day wraps around midnight
    return math.exp(-0.5 * (distance / width) ** 2)


def daily_load_factor(local_hour: float) -> float:
    """0..~1.1: share of the peak load drawn at this hour of the local day."""
    return 0.55 * _bump(local_hour, 7.5, 1.1) + 1.0 * _bump(local_hour, 20.0, 1.7) + 0.25 * _bump(local_hour, 13.0, 2.5)


# Share of an existing register counted at the night tariff when a meter starts (or resumes) its simulation.
NIGHT_SHARE = 0.35


@dataclass
class SimulatedMeter:
    device_id: str
    register_kwh: float
    base_load_w: float
    peak_load_w: float
    rng: random.Random = field(repr=False)
    last_at: datetime | None = None
    night_kwh: float = 0.0  # the part of the register counted at the night tariff (23:00-07:00 local)
    counting_since: datetime | None = None
    _day: date | None = field(default=None, repr=False)  # the local day `_day_start_kwh` belongs to
    _day_start_kwh: float = field(default=0.0, repr=False)
    _yesterday_kwh: float = field(default=0.0, repr=False)

    @classmethod
    def create(cls, device_id: str, *, seed: int | None = None, register_kwh: float | None = None) -> SimulatedMeter:
        rng = random.Random(f"{device_id}:{seed}" if seed is not None else None)  # noqa: S311 - not security
        meter = cls(
            device_id=device_id,
            register_kwh=register_kwh if register_kwh is not None else round(rng.uniform(500, 20_000), 3),
            base_load_w=rng.uniform(120, 400),
            peak_load_w=rng.uniform(1_200, 4_000),
            rng=rng,
        )
        meter.night_kwh = meter.register_kwh * NIGHT_SHARE
        # Its own generator: the telemetry's random sequence stays what it was before this field existed.
        since = random.Random(f"{device_id}:since")  # noqa: S311 - not security
        meter.counting_since = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=since.randrange(365 * 24 * 60))
        return meter

    def resume(self, *, register_kwh: float, at: datetime) -> None:
        """Continue from a stored reading: its register, at its instant."""
        self.register_kwh = register_kwh
        self.night_kwh = register_kwh * NIGHT_SHARE
        self.last_at = at
        self._day = None

    def power_at(self, when: datetime, zone: tzinfo) -> float:
        local = when.astimezone(zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        power = self.base_load_w + self.peak_load_w * daily_load_factor(hour)
        power *= 1 + self.rng.gauss(0, 0.08)
        if self.rng.random() < 0.03:  # a kettle, a pump or an iron
            power += self.rng.uniform(800, 2_000)
        return max(power, 5.0)

    def sample_at(self, when: datetime, zone: tzinfo) -> MeterSample:
        """The meter's physical values at `when` (aware), as plain numbers; advances the register."""
        power_w = self.power_at(when, zone)
        local = when.astimezone(zone)
        if self.last_at is not None and when > self.last_at:
            elapsed_h = min((when - self.last_at).total_seconds(), 3600) / 3600
            used_kwh = power_w * elapsed_h / 1000
            self.register_kwh += used_kwh
            if is_night_tariff(local.hour):
                self.night_kwh += used_kwh
        self.last_at = when
        if self._day != local.date():  # a new local day: the energy up to now closed the previous one
            if self._day is not None:
                self._yesterday_kwh = self.register_kwh - self._day_start_kwh
            self._day, self._day_start_kwh = local.date(), self.register_kwh
        voltage = min(max(230 + 4 * math.sin(when.timestamp() / 5400) + self.rng.gauss(0, 1.2), 200.0), 255.0)
        power_factor = min(max(self.rng.gauss(0.93, 0.03), 0.7), 1.0)
        return MeterSample(
            device_id=self.device_id,
            at=when,
            power_w=power_w,
            energy_kwh=self.register_kwh,
            voltage=voltage,
            power_factor=power_factor,
            rssi=int(min(max(self.rng.gauss(-62, 5), -95), -35)),
            night_kwh=min(self.night_kwh, self.register_kwh),
            today_kwh=self.register_kwh - self._day_start_kwh,
            yesterday_kwh=self._yesterday_kwh,
            counting_since=self.counting_since,
        )

    def reading_at(self, when: datetime, zone: tzinfo) -> dict:
        """The product's own telemetry at `when` (aware); advances the register."""
        return native_body(self.sample_at(when, zone))

    def payload_at(self, when: datetime, zone: tzinfo) -> bytes:
        return json.dumps(self.reading_at(when, zone), separators=(",", ":")).encode()

    def messages_at(
        self,
        when: datetime,
        zone: tzinfo,
        payload_format: str,
        options: EncodeOptions = DEFAULT_OPTIONS,
        *,
        backfill: bool = False,
    ) -> list[Message]:
        """What a device of `payload_format` publishes at `when`: (topic, payload) pairs; advances the register."""
        return meter_messages(self.sample_at(when, zone), payload_format, options, backfill=backfill)


def backfill_instants(*, start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    """Instants on a grid of `step` (aligned to the epoch) from `start` up to, not including, `end`."""
    step_s = step.total_seconds()
    moment = datetime.fromtimestamp(math.ceil(start.timestamp() / step_s) * step_s, tz=start.tzinfo)
    while moment < end:
        yield moment
        moment += step
