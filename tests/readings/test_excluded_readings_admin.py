"""Staff see a meter's excluded readings for a month in the admin."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from readings.stores import get_store
from tests.readings.test_store_contract import reading

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.mark.django_db
def test_staff_see_the_glitch_of_the_chosen_month_and_why(staff_client, device, settings):
    settings.BILLING_TIME_ZONE = "Asia/Kolkata"
    start = datetime(2025, 1, 1, tzinfo=KOLKATA)
    values = [10000.0, 10050.0, 0.0, 10050.2, 10100.0]
    get_store().write_many(
        [reading(device.device_id, start + timedelta(hours=12 * index), value) for index, value in enumerate(values)]
    )
    url = reverse("admin:devices_device_excluded_readings", args=[device.pk])
    response = staff_client.get(url, {"month": "2025-01"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "glitch" in body
    assert "the next reading returns to 10050.200" in body
    change = staff_client.get(reverse("admin:devices_device_change", args=[device.pk])).content.decode()
    assert url in change


@pytest.mark.django_db
def test_a_customer_cannot_see_excluded_readings(client, customer, device):
    client.force_login(customer)
    response = client.get(reverse("admin:devices_device_excluded_readings", args=[device.pk]))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
