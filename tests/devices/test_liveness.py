"""Meter liveness: last_seen moves forward with readings, silent meters go offline (devices.services)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Device
from devices.services import devices_mark_offline, devices_mark_seen
from readings.types import Reading
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def meters(customer):
    """A reporting meter and a retired one."""
    return [
        DeviceFactory(device_id="meter-a", owner=customer),
        DeviceFactory(device_id="meter-old", owner=customer, status=Device.Status.DECOMMISSIONED),
    ]


def test_last_seen_never_moves_backwards_or_past_the_receive_time(meters):
    received = timezone.now()
    reading = Reading("meter-a", received + timedelta(minutes=3), 230, 1, 230, 1, 1, -50)
    devices_mark_seen(readings=[reading], received_at=received)
    assert Device.objects.get(device_id="meter-a").last_seen == received  # a fast meter clock is clamped

    older = Reading("meter-a", received - timedelta(minutes=1), 230, 1, 230, 1, 1, -50)
    devices_mark_seen(readings=[older], received_at=received)
    assert Device.objects.get(device_id="meter-a").last_seen == received


def test_a_decommissioned_meter_is_never_marked_online(meters):
    reading = Reading("meter-old", timezone.now(), 230, 1, 230, 1, 1, -50)
    assert devices_mark_seen(readings=[reading], received_at=timezone.now()) == 0
    assert Device.objects.get(device_id="meter-old").status == Device.Status.DECOMMISSIONED


def test_silent_online_meters_are_marked_offline(customer):
    now = timezone.now()
    DeviceFactory(device_id="fresh", owner=customer, status="online", last_seen=now - timedelta(minutes=2))
    DeviceFactory(device_id="silent", owner=customer, status="online", last_seen=now - timedelta(minutes=6))
    DeviceFactory(device_id="never", owner=customer, status="online", last_seen=None)
    DeviceFactory(device_id="retired", owner=customer, status="decommissioned", last_seen=now - timedelta(days=1))
    DeviceFactory(device_id="faulty", owner=customer, status="error", last_seen=now - timedelta(days=1))

    assert sorted(devices_mark_offline(now=now, after=timedelta(minutes=5))) == ["never", "silent"]
    assert dict(Device.objects.values_list("device_id", "status")) == {
        "fresh": "online",
        "silent": "offline",
        "never": "offline",
        "retired": "decommissioned",
        "faulty": "error",
    }
    assert devices_mark_offline(now=now, after=timedelta(minutes=5)) == []  # a second run changes nothing


def test_the_offline_sweep_task_uses_the_configured_threshold_and_is_scheduled_every_minute(customer, settings):
    from django_q.models import Schedule

    from devices.tasks import mark_silent_meters_offline

    settings.DEVICE_OFFLINE_AFTER = timedelta(seconds=30)
    DeviceFactory(device_id="quiet", owner=customer, status="online", last_seen=timezone.now() - timedelta(minutes=1))

    assert mark_silent_meters_offline() == {"marked_offline": 1, "device_ids": ["quiet"]}
    schedule = Schedule.objects.get(func="devices.tasks.mark_silent_meters_offline")
    assert schedule.name == "devices: mark silent meters offline"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)
