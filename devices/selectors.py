"""Reads of meters as a given user may see them (own meters, or every meter for staff)."""

from django.db.models import QuerySet

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
