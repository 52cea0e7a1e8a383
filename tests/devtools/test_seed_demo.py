"""python manage.py seed_demo provisions the demo meters and claims them for the demo customer
through the services, and running it again changes nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from devices.models import Device

pytestmark = pytest.mark.django_db


def test_seeding_provisions_and_claims_the_demo_meters_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    meters = Device.objects.select_related("owner").order_by("device_id")
    assert [meter.device_id for meter in meters] == ["demo-meter-1", "demo-meter-2", "demo-meter-3"]
    assert {meter.owner.email for meter in meters} == {"customer@smartmeter.example"}
    assert all(meter.claimed_at and meter.claim_code_hash == "" and meter.serial for meter in meters)
    assert str(meters[1].sanctioned_load_kw) == "10.00"
