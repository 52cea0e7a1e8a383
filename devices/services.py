import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from devices.models import Device

logger = logging.getLogger("smartmeter.audit")


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
