"""The meter admin's "Record meter exchange": a staff-only form on the meter's page, the new meter's
one-time secrets on the result page only, and the exchange listed on both meters' pages."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from devices import lifecycle
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device, MeterExchange
from tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

INSTANT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)  # 15:00 in Asia/Kolkata, the admin's zone


@pytest.fixture
def old_meter(customer):
    device = DeviceFactory(device_id="old-1", owner=customer, name="Home", location="Jayanagar")
    Device.objects.filter(pk=device.pk).update(created_at=INSTANT - timedelta(days=400))
    device.refresh_from_db()
    return device


@pytest.fixture
def broker_hook():
    def hook(device):
        return ProvisionedSecrets(label="MQTT password", value=f"s3cret-{device.device_id}")

    lifecycle.on_provisioned(hook)
    yield hook
    lifecycle._on_provisioned.remove(hook)


def form_data(**overrides):
    data = {
        "new_device_id": "new-1",
        "new_serial": "SN-NEW-1",
        "old_final_register": "12345.678",
        "new_initial_register": "0.012",
        "exchanged_at": "2025-03-14T15:00:00",
        "notes": "display failed",
    }
    data.update(overrides)
    return data


def url(device) -> str:
    return f"/admin/devices/device/{device.pk}/exchange/"


def test_the_meter_page_offers_the_exchange_only_for_a_meter_in_service(staff_client, old_meter):
    page = staff_client.get(f"/admin/devices/device/{old_meter.pk}/change/").content.decode()
    assert f'href="{url(old_meter)}"' in page
    assert "Record meter exchange" in page
    retired = DeviceFactory(device_id="gone-1", status=Device.Status.DECOMMISSIONED)
    assert (
        "Record meter exchange" not in staff_client.get(f"/admin/devices/device/{retired.pk}/change/").content.decode()
    )


def test_the_form_fixes_the_old_meter_and_proposes_now(staff_client, old_meter):
    response = staff_client.get(url(old_meter))
    assert response.status_code == 200
    html = response.content.decode()
    assert "old-1" in html
    assert 'id="exchange-form"' in html
    now_local = timezone.localtime().strftime("%Y-%m-%dT%H:")
    assert f'value="{now_local}' in html  # the instant defaults to now, local time
    for name in ("new_device_id", "new_serial", "old_final_register", "new_initial_register", "exchanged_at", "notes"):
        assert f'name="{name}"' in html


def test_recording_an_exchange_shows_the_new_meters_secret_once_and_lists_it_on_both_meters(
    staff_client, staff, old_meter, customer, broker_hook
):
    response = staff_client.post(url(old_meter), form_data())

    assert response.status_code == 200, response.content.decode()[:3000]
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert '<code class="exchange-secret">s3cret-new-1</code>' in html
    exchange = MeterExchange.objects.select_related("old_device", "new_device").get()
    new = exchange.new_device
    assert (exchange.old_device, new.device_id, new.owner) == (old_meter, "new-1", customer)
    assert exchange.exchanged_at == INSTANT
    assert (exchange.old_final_register, exchange.new_initial_register) == (Decimal("12345.678"), Decimal("0.012"))
    assert exchange.recorded_by == staff
    assert exchange.old_device.decommissioned_at == INSTANT

    for device in (old_meter, new):
        page = staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()
        assert 'class="sm-table meter-exchanges"' in page
        assert "12345.678" in page
        assert "0.012" in page
        assert "display failed" in page
        assert "s3cret-new-1" not in page  # shown once, on the result page only
    assert (
        "Record meter exchange"
        not in staff_client.get(f"/admin/devices/device/{old_meter.pk}/change/").content.decode()
    )


def test_a_refused_exchange_shows_the_reason_on_the_form_and_changes_nothing(staff_client, old_meter):
    future = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    response = staff_client.post(url(old_meter), form_data(exchanged_at=future))
    assert response.status_code == 200
    assert "The exchange instant is in the future." in response.content.decode()

    response = staff_client.post(url(old_meter), form_data(new_device_id="old-1", old_final_register="-1"))
    html = response.content.decode()
    assert "greater than or equal to 0" in html

    old_meter.refresh_from_db()
    assert not old_meter.is_decommissioned
    assert not MeterExchange.objects.exists()
    assert not Device.objects.filter(device_id="new-1").exists()


def test_a_non_staff_user_is_refused(client, customer, old_meter):
    client.force_login(customer)
    for response in (client.get(url(old_meter)), client.post(url(old_meter), form_data())):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert not MeterExchange.objects.exists()
    old_meter.refresh_from_db()
    assert not old_meter.is_decommissioned


def test_staff_without_the_meter_permissions_are_refused(client, old_meter):
    clerk = UserFactory(email="clerk@example.com", is_staff=True)
    client.force_login(clerk)
    assert client.post(url(old_meter), form_data()).status_code == 403
    assert not MeterExchange.objects.exists()
