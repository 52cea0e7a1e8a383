"""A meter's register digits (when its register rolls over) are set by staff and shown with the meter."""

import pytest

from devices.models import Device

pytestmark = pytest.mark.django_db


def test_staff_see_and_set_the_register_digits_on_the_meter_page(staff_client, device):
    page = staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    assert 'name="register_digits"' in page
    assert "rolls over to 0 after" in page


def test_the_register_digits_are_part_of_the_meter_in_the_api(api, customer, device):
    Device.objects.filter(pk=device.pk).update(register_digits=6)
    body = api(customer).get(f"/api/devices/{device.device_id}").json()
    assert body["register_digits"] == 6
