"""Reads of the meter registry, for the API, the pages and the back office."""

from datetime import datetime

from django.conf import settings
from django.db.models import Count, QuerySet

from accounts.models import User
from devices.models import Device


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
