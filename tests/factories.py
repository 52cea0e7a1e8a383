"""Small factories for test data; plain functions keep them obvious."""

import itertools

from accounts.models import User
from devices.models import Device

_sequence = itertools.count(1)

DEFAULT_PASSWORD = "correct-horse-battery-42"


def UserFactory(*, email=None, name="Test User", password=DEFAULT_PASSWORD, is_staff=False, **extra) -> User:  # noqa: N802
    email = email or f"user{next(_sequence)}@example.com"
    return User.objects.create_user(email=email, password=password, name=name, is_staff=is_staff, **extra)


def DeviceFactory(*, device_id=None, owner=None, name="Meter", location="", **extra) -> Device:  # noqa: N802
    owner = owner or UserFactory()
    device_id = device_id or f"meter-{next(_sequence):04d}"
    return Device.objects.create(device_id=device_id, owner=owner, name=name, location=location, **extra)
