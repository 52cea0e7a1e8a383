"""Joining a meter's power messages to its register readings (a Shelly sends them apart).

A Shelly Gen2 meter publishes power (em:0) and energy (emdata:0) on separate topics. The power
message is shown live and remembered here; a register reading that arrives without power takes
the values of the newest power message from the same meter at most `window` apart. Nothing is
stored twice: the power message is never stored on its own. With several consumers sharing the
subscription, a register reading may reach another consumer than its power message and is then
stored without power (its register, which billing needs, is never affected).
docs/ingestion.md#partial-messages.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from readings.types import PowerSample, Reading

MAX_METERS = 200_000
COPY_WINDOW = timedelta(seconds=5)


class PowerJoin:
    """The newest power sample per meter, for the register readings that follow it."""

    def __init__(self, *, window: timedelta = timedelta(seconds=60)):
        self.window = window
        self._latest: dict[str, PowerSample] = {}
        self._registers: dict[str, Reading] = {}

    def remember(self, sample: PowerSample) -> None:
        known = self._latest.get(sample.device_id)
        if known is not None and known.timestamp > sample.timestamp:
            return  # an older sample arriving late never replaces a newer one
        if known is None and len(self._latest) >= MAX_METERS:
            self._latest.clear()  # bounded memory: a flood of ids only costs some joins
        self._latest[sample.device_id] = sample

    def complete(self, reading: Reading) -> Reading:
        """The reading with the power values of the meter's newest power sample within the window
        (unchanged when it has power already, or no sample is close enough)."""
        if reading.power_w is not None:
            return reading
        sample = self._latest.get(reading.device_id)
        if sample is None or abs(sample.timestamp - reading.timestamp) > self.window:
            return reading
        return replace(
            reading,
            power_w=sample.power_w,
            voltage=sample.voltage if reading.voltage is None else reading.voltage,
            current=sample.current if reading.current is None else reading.current,
            power_factor=sample.power_factor if reading.power_factor is None else reading.power_factor,
            phases=reading.phases or sample.phases,
        )

    def is_copy(self, reading: Reading) -> bool:
        """Whether this register reading repeats the meter's previous one within seconds: a Shelly with
        both "RPC status notifications" and "Generic status update" on sends each change twice (on
        events/rpc with the device's time, on status/emdata:0 at the receive time)."""
        previous = self._registers.get(reading.device_id)
        if (
            previous is not None
            and previous.energy_kwh == reading.energy_kwh
            and previous.energy_export_kwh == reading.energy_export_kwh
            and abs(previous.timestamp - reading.timestamp) <= COPY_WINDOW
        ):
            return True
        if previous is None and len(self._registers) >= MAX_METERS:
            self._registers.clear()
        self._registers[reading.device_id] = reading
        return False
