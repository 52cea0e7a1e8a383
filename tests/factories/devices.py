"""Meters, each owned by a new customer unless ``owner`` is given."""

import factory
from factory.django import DjangoModelFactory

from devices.models import Device
from tests.factories.accounts import UserFactory


class DeviceFactory(DjangoModelFactory):
    device_id = factory.Sequence(lambda n: f"meter-{n:04d}")
    owner = factory.SubFactory(UserFactory)
    name = "Meter"
    location = ""

    class Meta:
        model = Device
