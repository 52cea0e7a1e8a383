"""Write use cases of meters: register, decommission, reassign, and liveness (seen / offline)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from devices.lifecycle import device_decommissioned
from devices.models import Device

logger = logging.getLogger("smartmeter.audit")
liveness_logger = logging.getLogger("smartmeter.ingest")

MARK_SEEN_CHUNK = 1000  # meters per UPDATE: one statement per batch up to this many meters


class Heard(Protocol):
    """What liveness needs of a stored reading: whose it is and when it was taken."""

    device_id: str
    timestamp: datetime


class DeviceAlreadyRegistered(Exception):
    pass


@transaction.atomic
def device_register(
    *, device_id: str, owner: User, name: str = "", location: str = "", wifi_ssid: str = "", firmware_version: str = ""
) -> Device:
    if Device.objects.filter(device_id=device_id).exists():
        raise DeviceAlreadyRegistered(device_id)
    try:
        with transaction.atomic():
            device = Device.objects.create(
                device_id=device_id,
                owner=owner,
                name=name,
                location=location,
                wifi_ssid=wifi_ssid,
                firmware_version=firmware_version,
            )
    except IntegrityError as exc:
        raise DeviceAlreadyRegistered(device_id) from exc
    logger.info("device registered", extra={"device_id": device_id, "owner": owner.email})
    return device


@transaction.atomic
def device_decommission(*, device: Device, actor: User | None = None) -> Device:
    """Retire a meter: it keeps its readings and invoices but is no longer billed or accepted."""
    if device.is_decommissioned:
        return device
    device.status = Device.Status.DECOMMISSIONED
    device.decommissioned_at = timezone.now()
    device.save(update_fields=["status", "decommissioned_at"])
    device_decommissioned(device)
    logger.info(
        "device decommissioned",
        extra={"device_id": device.device_id, "actor": actor.email if actor else None},
    )
    return device


@transaction.atomic
def device_reassign(*, device: Device, owner: User, actor: User | None = None) -> Device:
    previous = device.owner.email
    device.owner = owner
    device.save(update_fields=["owner"])
    logger.info(
        "device reassigned",
        extra={
            "device_id": device.device_id,
            "from": previous,
            "to": owner.email,
            "actor": actor.email if actor else None,
        },
    )
    return device


def devices_mark_seen(*, readings: Iterable[Heard], received_at: datetime) -> int:
    """One UPDATE for the whole batch: `last_seen` moves forward to each meter's newest reading
    (never past the receive time), and meters whose newest reading is recent become `online`.

    A redelivered or backfilled old reading moves `last_seen` but does not bring an
    offline meter back online.
    """
    newest: dict[str, datetime] = {}
    for reading in readings:
        seen_at = min(reading.timestamp, received_at)
        current = newest.get(reading.device_id)
        if current is None or seen_at > current:
            newest[reading.device_id] = seen_at
    if not newest:
        return 0
    fresh_after = timezone.now() - settings.DEVICE_OFFLINE_AFTER
    items = list(newest.items())
    changed = 0
    for start in range(0, len(items), MARK_SEEN_CHUNK):
        changed += _devices_mark_seen_sql(items[start : start + MARK_SEEN_CHUNK], fresh_after=fresh_after)
    return changed


def _devices_mark_seen_sql(items: list[tuple[str, datetime]], *, fresh_after: datetime) -> int:
    # Hand-written because it runs once per batch on the ingest hot path: the equivalent ORM
    # Case/When expression costs more to build than the rest of the batch put together.
    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    table, device_id, last_seen, status = (
        quote(name) for name in (Device._meta.db_table, "device_id", "last_seen", "status")
    )
    when_sql = " ".join(["WHEN %s THEN %s"] * len(items))
    when_params = [value for device, seen_at in items for value in (device, adapt(seen_at))]
    newest_sql = f"CASE {device_id} {when_sql} END"
    fresh = [device for device, seen_at in items if seen_at >= fresh_after]
    ids_sql = ", ".join(["%s"] * len(items))
    status_sql = (
        f"CASE WHEN {device_id} IN ({', '.join(['%s'] * len(fresh))}) THEN %s ELSE {status} END" if fresh else status
    )
    sql = (
        f"UPDATE {table} SET "  # noqa: S608 - quoted identifiers and placeholders only
        f"{last_seen} = CASE WHEN {last_seen} IS NULL OR {last_seen} < ({newest_sql}) THEN ({newest_sql}) "
        f"ELSE {last_seen} END, "
        f"{status} = {status_sql} "
        f"WHERE {device_id} IN ({ids_sql}) AND {status} <> %s"
    )
    params = [
        *when_params,
        *when_params,
        *([*fresh, Device.Status.ONLINE.value] if fresh else []),
        *[device for device, _ in items],
        Device.Status.DECOMMISSIONED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def devices_mark_offline(*, now: datetime | None = None, after: timedelta | None = None) -> list[str]:
    """Mark `offline` every online meter not heard from for DEVICE_OFFLINE_AFTER; returns their ids.

    Safe to run twice or concurrently: the UPDATE's condition re-checks each row.
    """
    now = now or timezone.now()
    cutoff = now - (after if after is not None else settings.DEVICE_OFFLINE_AFTER)
    stale = Device.objects.filter(status=Device.Status.ONLINE).filter(
        Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True)
    )
    device_ids = list(stale.values_list("device_id", flat=True))
    if not device_ids:
        return []
    changed = (
        Device.objects.filter(device_id__in=device_ids, status=Device.Status.ONLINE)
        .filter(Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True))
        .update(status=Device.Status.OFFLINE)
    )
    if changed:
        liveness_logger.info(
            "%d meter(s) went offline: %s", changed, ", ".join(device_ids[:20]), extra={"device_ids": device_ids[:100]}
        )
    return device_ids
