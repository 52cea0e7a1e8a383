"""Simulated meters: plausible household telemetry for demos, tests and benchmarks (pure, seeded).

Each meter has a base load and a peak load; power follows a daily curve in local time
(a low night, a morning peak around 07:30, a small midday hump, the evening peak around
20:00) with noise and the odd appliance switching on. The energy register only ever
grows, by the energy the simulated power would have used since the previous reading.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo


def _bump(hour: float, centre: float, width: float) -> float:
    distance = min(abs(hour - centre), 24 - abs(hour - centre))  # the day wraps around midnight
    return math.exp(-0.5 * (distance / width) ** 2)


def daily_load_factor(local_hour: float) -> float:
    """0..~1.1: share of the peak load drawn at this hour of the local day."""
    return 0.55 * _bump(local_hour, 7.5, 1.1) + 1.0 * _bump(local_hour, 20.0, 1.7) + 0.25 * _bump(local_hour, 13.0, 2.5)


@dataclass
class SimulatedMeter:
    device_id: str
    register_kwh: float
    base_load_w: float
    peak_load_w: float
    rng: random.Random = field(repr=False)
    last_at: datetime | None = None

    @classmethod
    def create(cls, device_id: str, *, seed: int | None = None, register_kwh: float | None = None) -> SimulatedMeter:
        rng = random.Random(f"{device_id}:{seed}" if seed is not None else None)  # noqa: S311 - not security
        return cls(
            device_id=device_id,
            register_kwh=register_kwh if register_kwh is not None else round(rng.uniform(500, 20_000), 3),
            base_load_w=rng.uniform(120, 400),
            peak_load_w=rng.uniform(1_200, 4_000),
            rng=rng,
        )

    def power_at(self, when: datetime, zone: tzinfo) -> float:
        local = when.astimezone(zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        power = self.base_load_w + self.peak_load_w * daily_load_factor(hour)
        power *= 1 + self.rng.gauss(0, 0.08)
        if self.rng.random() < 0.03:  # a kettle, a pump or an iron
            power += self.rng.uniform(800, 2_000)
        return max(power, 5.0)

    def reading_at(self, when: datetime, zone: tzinfo) -> dict:
        """The payload a meter would publish at `when` (aware); advances the register."""
        power_w = self.power_at(when, zone)
        if self.last_at is not None and when > self.last_at:
            elapsed_h = min((when - self.last_at).total_seconds(), 3600) / 3600
            self.register_kwh += power_w * elapsed_h / 1000
        self.last_at = when
        voltage = min(max(230 + 4 * math.sin(when.timestamp() / 5400) + self.rng.gauss(0, 1.2), 200.0), 255.0)
        power_factor = min(max(self.rng.gauss(0.93, 0.03), 0.7), 1.0)
        return {
            "device_id": self.device_id,
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "voltage": round(voltage, 1),
            "current": round(power_w / (voltage * power_factor), 3),
            "power_w": round(power_w, 1),
            "energy_kwh": round(self.register_kwh, 4),
            "power_factor": round(power_factor, 3),
            "rssi": int(min(max(self.rng.gauss(-62, 5), -95), -35)),
        }

    def payload_at(self, when: datetime, zone: tzinfo) -> bytes:
        return json.dumps(self.reading_at(when, zone), separators=(",", ":")).encode()


def backfill_instants(*, start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    """Instants on a grid of `step` (aligned to the epoch) from `start` up to, not including, `end`."""
    step_s = step.total_seconds()
    moment = datetime.fromtimestamp(math.ceil(start.timestamp() / step_s) * step_s, tz=start.tzinfo)
    while moment < end:
        yield moment
        moment += step
