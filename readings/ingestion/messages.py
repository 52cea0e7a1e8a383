"""A received telemetry message as ingestion sees it, free of any MQTT client type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ReceivedMessage(Protocol):
    """What ingestion needs of a received message (the consumer passes its MQTT messages as they are).

    MQTT messages also carry `mid` (packet id), `qos` and `redelivered` (the DUP flag);
    ingestion reads them where present to recognise redelivered packets without a
    timestamp (readings.ingestion.redelivery). A true `retained` (a broker's stored copy
    replayed at subscribe time) is never stored as a reading.
    """

    topic: str | bytes
    payload: bytes
    received_at: datetime  # aware


@dataclass(frozen=True, slots=True)
class TelemetryMessage:
    topic: str | bytes
    payload: bytes
    received_at: datetime  # aware
    mid: int = 0  # MQTT packet id; 0 = none (QoS 0, or not from MQTT)
    qos: int = 1
    redelivered: bool = False
    retained: bool = False
