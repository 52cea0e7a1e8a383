"""The meter admin's "Connect this meter" panel: what to type into the device for its format, the
password once, and whether the meter has been heard from (its newest reading, its refused messages)."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from devices import lifecycle
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device
from readings.meter_credentials import SECRET_KIND_MQTT_PASSWORD
from readings.onboarding import tasmota_timezone
from readings.stores import get_store
from readings.types import Reading
from tests.factories import DeadLetterFactory, UnclaimedDeviceFactory

pytestmark = pytest.mark.django_db

PASSWORD = "broker-pw-shown-once-123456789012"


@pytest.fixture
def broker_password(monkeypatch, settings):
    """A provisioning hook handing back a broker password, as readings.meter_credentials does."""
    settings.MQTT_ADMIN_URL = "mqtt://admin:x@127.0.0.1:1"  # accounts exist; nothing here connects to it
    monkeypatch.setattr(lifecycle, "_on_provisioned", [])

    def hook(device):
        return ProvisionedSecrets(label="MQTT password", value=PASSWORD, kind=SECRET_KIND_MQTT_PASSWORD)

    lifecycle.on_provisioned(hook)


def _text(response) -> str:
    """The page's visible text, whitespace collapsed (what staff read)."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(body))


def _change_page(staff_client, device) -> str:
    response = staff_client.get(f"/admin/devices/device/{device.pk}/change/")
    assert response.status_code == 200
    return _text(response)


def test_provisioning_a_tasmota_meter_shows_what_to_type_into_it(staff_client, settings, broker_password):
    settings.MQTT_PUBLIC_URL = "mqtts://mqtt.example.com:8883"
    settings.TASMOTA_TIME_ZONE = "Asia/Kolkata"
    response = staff_client.post("/admin/devices/device/add/", {"device_id": "plug-7", "payload_format": "tasmota"})
    assert response.status_code == 200, response.content.decode()[:2000]
    page = _text(response)
    assert "Connect this meter" in page
    assert "Broker mqtt.example.com:8883 , TLS yes" in page
    assert "Configuration › Configure MQTT" in page
    for setting, value in [
        ("Host", "mqtt.example.com"),
        ("Port", "8883"),
        ("User", "plug-7"),
        ("Password", PASSWORD),
        ("Topic", "plug-7"),
        ("Full Topic", "%prefix%/%topic%/"),
    ]:
        assert f" {setting} {value} " in page, setting
    assert "Prefix3) must be “tele” (its default)" in page
    assert "TelePeriod 60" in page
    assert (
        f"Backlog MqttHost mqtt.example.com; MqttPort 8883; MqttUser plug-7; MqttPassword {PASSWORD}; "
        "Topic plug-7; FullTopic %prefix%/%topic%/; SetOption103 1; TelePeriod 60; Timezone +05:30"
    ) in page
    assert "Shown this once" in page
    # MQTT_URL's own login (the consumer's) is never what meters are told.
    assert "smartmeter-consumer" not in page


def test_a_configured_tele_prefix_is_what_tasmota_is_told(staff_client, settings):
    settings.MQTT_TASMOTA_PREFIX = "site/tele"
    settings.MQTT_PUBLIC_URL = "mqtt://10.0.0.5"
    device = UnclaimedDeviceFactory(device_id="plug-8", payload_format="tasmota")
    page = _change_page(staff_client, device)
    assert "Broker 10.0.0.5:1883 , TLS no" in page
    assert "run Prefix3 site/tele in the console" in page
    assert "Waiting for the first message on site/tele/plug-8/SENSOR ." in page


def test_the_change_page_says_rotate_to_see_a_password_and_offers_it(staff_client, settings):
    settings.MQTT_ADMIN_URL = "mqtt://admin:x@127.0.0.1:1"
    device = UnclaimedDeviceFactory(device_id="plug-9", payload_format="tasmota")
    response = staff_client.get(f"/admin/devices/device/{device.pk}/change/")
    page = _text(response)
    assert "Rotate the password to see a new one" in page
    assert " Password <password> " in page
    assert 'name="action" value="rotate_mqtt_password"' in response.content.decode()


def test_an_open_broker_needs_no_password(staff_client, settings):
    settings.MQTT_ADMIN_URL = ""
    device = UnclaimedDeviceFactory(device_id="plain-1")
    page = _change_page(staff_client, device)
    assert "This broker takes no logins" in page
    assert "Topic smartmeter/plain-1/telemetry" in page
    assert '"energy_kwh": 1234.567' in page


def test_a_shelly_is_told_its_prefix_and_notifications(staff_client, settings):
    settings.MQTT_PUBLIC_URL = "mqtt://broker.example.com:1883"
    page = _change_page(staff_client, UnclaimedDeviceFactory(device_id="em-1", payload_format="shelly-gen2"))
    assert "Settings › MQTT" in page
    assert " Server broker.example.com:1883 " in page
    assert " MQTT prefix shelly/em-1 " in page
    assert " RPC status notifications over MQTT on " in page
    assert " Generic status update over MQTT on " in page
    assert " SSL/TLS No TLS " in page
    assert '"topic_prefix": "shelly/em-1"' in page
    assert "Waiting for the first message on shelly/em-1/status/em:0 , shelly/em-1/status/em1:0 ," in page


def test_a_dsmr_reader_is_told_its_json_telegram_topic(staff_client):
    page = _change_page(staff_client, UnclaimedDeviceFactory(device_id="p1-1", payload_format="dsmr-reader"))
    assert " JSON telegram: topic dsmr/p1-1/json " in page
    assert " JSON telegram: enabled on " in page
    assert " Secure connection (TLS) no " in page


def test_a_heard_meter_shows_its_newest_reading_as_understood(staff_client):
    device = UnclaimedDeviceFactory(device_id="plug-h", payload_format="tasmota")
    taken = datetime(2025, 1, 31, 13, 0, tzinfo=UTC)
    get_store().write_many(
        [
            Reading("plug-h", taken - timedelta(minutes=1), 230.0, 1.0, 200.0, 12.0, 0.9, -60),
            Reading("plug-h", taken, 231.4, 2.17, 480.0, 12.345, 0.96, -60),
        ]
    )
    Device.objects.filter(pk=device.pk).update(last_seen=timezone.now())
    page = _change_page(staff_client, device)
    assert "Waiting for the first message" not in page
    assert "taken 31 Jan 2025 18:30:00" in page  # the admin's zone, Asia/Kolkata
    assert "Energy register 12.345 kWh" in page
    assert "Power 480 W" in page
    assert "Voltage 231.4 V" in page
    assert "Current 2.17 A" in page
    assert "Power factor 0.96" in page


def test_a_value_the_format_does_not_send_shows_a_dash(staff_client):
    from readings.onboarding import reading_understood

    class Partial:  # a format that sends the register and power only
        energy_kwh, power_w, voltage, current, power_factor = 5.5, 100.0, None, None, None

    assert dict(reading_understood(Partial())) == {
        "Energy register": "5.500 kWh",
        "Power": "100 W",
        "Voltage": "—",
        "Current": "—",
        "Power factor": "—",
    }


def test_refused_messages_show_with_their_reason_newest_first(staff_client):
    device = UnclaimedDeviceFactory(device_id="plug-r", payload_format="tasmota")
    now = timezone.now()
    for minutes in range(7):
        DeadLetterFactory(
            device_id="plug-r",
            topic="tele/plug-r/SENSOR",
            reason="invalid_payload" if minutes else "out_of_range",
            detail=f"refusal {minutes}",
            received_at=now - timedelta(minutes=minutes),
        )
    DeadLetterFactory(device_id="someone-else", reason="unknown_device", detail="not this meter", received_at=now)
    response = staff_client.get(f"/admin/devices/device/{device.pk}/change/")
    page = _text(response)
    assert "Waiting for the first message on tele/plug-r/SENSOR" in page  # refused messages do not count
    assert "Refused messages (newest 5)" in page
    assert "out_of_range refusal 0" in page
    assert [f"refusal {n}" in page for n in range(7)] == [True] * 5 + [False] * 2
    assert "not this meter" not in page
    assert "/admin/readings/deadletter/?device_id=plug-r" in response.content.decode()


def test_rotating_one_meters_password_shows_how_to_enter_it(staff_client, settings, monkeypatch):
    from readings import admin as readings_admin

    settings.MQTT_ADMIN_URL = "mqtt://admin:x@127.0.0.1:1"
    device = UnclaimedDeviceFactory(device_id="em-rot", payload_format="shelly-gen2")
    monkeypatch.setattr(
        readings_admin,
        "meter_credentials_rotate",
        lambda device, actor: ProvisionedSecrets("MQTT password", "rotated-pw", SECRET_KIND_MQTT_PASSWORD),
    )
    response = staff_client.post(
        "/admin/devices/device/", {"action": "rotate_mqtt_password", "_selected_action": [device.pk]}
    )
    page = _text(response)
    assert " Password rotated-pw " in page
    assert " MQTT prefix shelly/em-rot " in page


@pytest.mark.parametrize(
    ("zone", "command"),
    [("Asia/Kolkata", "Timezone +05:30"), ("UTC", "Timezone +00:00"), ("America/Caracas", "Timezone -04:00")],
)
def test_tasmota_is_told_a_fixed_offset_for_a_zone_without_daylight_saving(zone, command):
    assert tasmota_timezone(zone)[0] == command


def test_tasmota_is_told_its_rule_mode_for_a_zone_with_daylight_saving():
    command, note = tasmota_timezone("Europe/Amsterdam")
    assert command == "Timezone 99"
    assert "TimeStd" in note
