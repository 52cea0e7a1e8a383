"""Reads of the meter registry, for the API, the pages and the back office."""

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from devices.models import Device, MeterExchange


def device_list(*, user: User, owner_id: int | None = None, status: str | None = None) -> QuerySet[Device]:
    devices = Device.objects.visible_to(user).select_related("owner")
    if owner_id is not None and user.is_staff:
        devices = devices.filter(owner_id=owner_id)
    if status:
        devices = devices.filter(status=status)
    return devices.order_by("device_id")


def device_get_visible(*, user: User, device_id: str) -> Device | None:
    """The meter if the user may see it; None both when absent and when another customer's."""
    return Device.objects.visible_to(user).select_related("owner").filter(device_id=device_id).first()


def device_list_owned(*, owner: User) -> QuerySet[Device]:
    """The meters registered to this person, staff included (unlike device_list, which shows staff every meter)."""
    return Device.objects.filter(owner=owner).select_related("owner").order_by("name", "device_id")


def devices_count_by_status() -> dict[str, int]:
    """Meters per status, every status present (zero when none), in one query."""
    found = dict(Device.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return {status: found.get(status, 0) for status, _ in Device.Status.choices}


def devices_count_stale_online(*, now: datetime) -> int:
    """Meters still marked online that have sent nothing for DEVICE_OFFLINE_AFTER."""
    return Device.objects.filter(status=Device.Status.ONLINE, last_seen__lt=now - settings.DEVICE_OFFLINE_AFTER).count()


def exchanges_between(*, device_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, MeterExchange]:
    """Exchanges with ``start <= exchanged_at < end`` that brought in one of ``device_ids``, by the
    NEW meter's id, each with both meters loaded (one query). A meter comes in by one exchange at most."""
    found = MeterExchange.objects.select_related("old_device", "new_device").filter(
        new_device__device_id__in=list(device_ids), exchanged_at__gte=start, exchanged_at__lt=end
    )
    return {exchange.new_device.device_id: exchange for exchange in found}


def exchange_of_old(*, device_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, MeterExchange]:
    """Exchanges with ``start <= exchanged_at < end`` that took one of ``device_ids`` out of service,
    by the OLD meter's id, each with both meters loaded (one query). A meter goes out once at most."""
    found = MeterExchange.objects.select_related("old_device", "new_device").filter(
        old_device__device_id__in=list(device_ids), exchanged_at__gte=start, exchanged_at__lt=end
    )
    return {exchange.old_device.device_id: exchange for exchange in found}


def device_exchanges(*, device: Device) -> QuerySet[MeterExchange]:
    """Every exchange the meter took part in, as the old meter or the new, newest first."""
    return (
        MeterExchange.objects.select_related("old_device", "new_device", "recorded_by")
        .filter(Q(old_device=device) | Q(new_device=device))
        .order_by("-exchanged_at", "-id")
    )
