"""Meters: claimed ones, each owned by a new customer unless ``owner`` is given, and
provisioned ones nobody has claimed yet (``UnclaimedDeviceFactory``, claim code ``CLAIM_CODE``)."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from devices.models import Device
from devices.services import claim_code_hash_of
from tests.factories.accounts import UserFactory

# A well-formed claim code the unclaimed factory's meters answer to (override with claim_code=...).
CLAIM_CODE = "K7QP-3MXW-9T"


class DeviceFactory(DjangoModelFactory):
    device_id = factory.Sequence(lambda n: f"meter-{n:04d}")
    owner = factory.SubFactory(UserFactory)
    claimed_at = factory.LazyFunction(timezone.now)
    name = "Meter"
    location = ""

    class Meta:
        model = Device


class UnclaimedDeviceFactory(DeviceFactory):
    """A provisioned meter: no owner, a hashed claim code (``claim_code``, default CLAIM_CODE)."""

    device_id = factory.Sequence(lambda n: f"unclaimed-{n:04d}")
    serial = factory.Sequence(lambda n: f"SN-{n:06d}")
    owner = None
    claimed_at = None

    class Params:
        claim_code = CLAIM_CODE

    claim_code_hash = factory.LazyAttribute(lambda o: claim_code_hash_of(o.claim_code))
