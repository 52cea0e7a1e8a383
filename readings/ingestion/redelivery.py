"""Recognising a redelivered telemetry message that carried no timestamp.

Such a message is stored at its receive time, so its redelivery would be stored again at
another. Per meter and packet id the consumer records the payload's digest and the instant
given, and a matching DUP packet gets that instant back: docs/ingestion.md#delivery-guarantees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from devices.identity import route_topic
from devices.topics import topic_prefixes
from readings.ingestion.formats import FORMATS
from readings.models import UntimedDelivery


@dataclass(frozen=True, slots=True)
class UntimedKey:
    device_id: str
    packet_id: int
    digest: str


def untimed_key(message, prefixes=None) -> UntimedKey | None:
    """The key of a QoS 1/2 message that carries no time of its own; None for every other message.

    The check is on the raw bytes, per payload format: a native payload without the text
    "timestamp" cannot carry one (Tasmota: "Time"; a Shelly status topic never does).
    """
    packet_id = getattr(message, "mid", 0)
    if not packet_id or getattr(message, "qos", 1) < 1:
        return None
    route = route_topic(message.topic, prefixes or topic_prefixes())
    if route is None:
        return None
    payload = bytes(message.payload)
    if not FORMATS[route.payload_format].untimed(payload, route.rest):
        return None
    return UntimedKey(device_id=route.device_id, packet_id=packet_id, digest=hashlib.sha256(payload).hexdigest())


def earlier_instants(keys: Iterable[UntimedKey]) -> dict[UntimedKey, datetime]:
    """The instant each of these (redelivered) packets was given when it was first stored, where known."""
    wanted = {(key.device_id, key.packet_id): key for key in keys}
    if not wanted:
        return {}
    rows = UntimedDelivery.objects.filter(
        device_id__in={device_id for device_id, _ in wanted},
        packet_id__in={packet_id for _, packet_id in wanted},
    ).values_list("device_id", "packet_id", "payload_sha256", "timestamp")
    found = {}
    for device_id, packet_id, digest, timestamp in rows:
        key = wanted.get((device_id, packet_id))
        if key is not None and key.digest == digest:
            found[key] = timestamp
    return found


def untimed_record(deliveries: Sequence[tuple[UntimedKey, datetime]], *, now: datetime | None = None) -> None:
    """Remember the instant given to each stored untimed packet (the newest per meter and packet id wins)."""
    if not deliveries:
        return
    now = now or timezone.now()
    latest = {(key.device_id, key.packet_id): (key, timestamp) for key, timestamp in deliveries}
    UntimedDelivery.objects.bulk_create(
        [
            UntimedDelivery(
                device_id=key.device_id,
                packet_id=key.packet_id,
                payload_sha256=key.digest,
                timestamp=timestamp,
                recorded_at=now,
            )
            for key, timestamp in latest.values()
        ],
        update_conflicts=True,
        unique_fields=["device_id", "packet_id"],
        update_fields=["payload_sha256", "timestamp", "recorded_at"],
    )
    UntimedDelivery.objects.filter(recorded_at__lt=now - timedelta(seconds=settings.MQTT_SESSION_EXPIRY)).delete()
