"""Per-meter broker accounts and the product's least-privilege logins, against the production
broker config (deploy/docker-compose.yml's recipe) with Mosquitto's dynamic security plugin."""

import io
import time

import pytest
from django.core.management import call_command

from devices import lifecycle
from devices.lifecycle import device_provisioned
from devices.services import device_decommission
from readings.broker_roles import CONSUMER_ROLE, LIVE_ROLE, acls_from_broker
from readings.ingestion.mqtt import BrokerAccounts, BrokerAdminError, BrokerSettings
from readings.meter_credentials import (
    MeterCredentialsError,
    meter_credentials_hooks_register,
    meter_credentials_rotate,
)
from tests.factories import DeviceFactory
from tests.readings.ingest_helpers import LocalBroker
from tests.support.admin_forms import device_change_form
from tests.support.dynsec import ADMIN, Client, DynsecBroker
from tests.support.network import wait_until

pytestmark = pytest.mark.broker

CONSUMER, CONSUMER_PASSWORD = "smartmeter-consumer", "consumer-pass"
LIVE, LIVE_PASSWORD = "smartmeter-live", "live-pass"
QUIET_SECONDS = 0.5  # how long "nothing else arrives" is watched for


@pytest.fixture
def broker(tmp_path):
    running = DynsecBroker(directory=tmp_path / "broker").start()
    yield running
    running.stop()


@pytest.fixture
def hooks(monkeypatch):
    """Empty hook lists for the test, so registering here leaves the process as it was."""
    monkeypatch.setattr(lifecycle, "_on_provisioned", [])
    monkeypatch.setattr(lifecycle, "_on_format_changed", [])
    monkeypatch.setattr(lifecycle, "_on_decommissioned", [])


@pytest.fixture
def administered(broker, settings, hooks):
    """Broker administration configured as in production: the hooks, the roles and the product logins."""
    settings.MQTT_ADMIN_URL = broker.admin_url
    settings.MQTT_URL = broker.url(CONSUMER, CONSUMER_PASSWORD)
    settings.LIVE_MQTT_URL = broker.url(LIVE, LIVE_PASSWORD)
    settings.LIVE_MQTT_SHARED_GROUP = "smartmeter-live"
    assert meter_credentials_hooks_register() is True
    call_command("mqtt_setup_roles", stdout=io.StringIO())
    return broker


@pytest.fixture
def clients():
    opened = []

    def connect(port, username, password) -> Client:
        client = Client(port, username, password)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


def provision(device) -> str:
    [secret] = device_provisioned(device)
    assert device.device_id in secret.label
    return secret.value


def wait_for(client: Client, topic: str) -> None:
    wait_until(lambda: topic in [t for t, _ in client.received], timeout=15, message=f"{topic} to arrive")
    time.sleep(QUIET_SECONDS)  # anything published earlier would have arrived by now


# --- meters ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_meter_publishes_only_to_its_own_topic_and_reads_nothing(administered, clients):
    mine, neighbour = DeviceFactory(device_id="meter-a"), DeviceFactory(device_id="meter-b")
    mine_password, neighbour_password = provision(mine), provision(neighbour)
    consumer = clients(administered.port, CONSUMER, CONSUMER_PASSWORD)
    assert consumer.subscribe("$share/consumers/smartmeter/+/telemetry") == ["Granted QoS 1"]

    meter = clients(administered.port, "meter-a", mine_password)
    assert meter.connected
    meter.publish("smartmeter/meter-b/telemetry", b'{"energy_kwh": 999999}')  # dropped by the broker
    meter.publish("smartmeter/meter-a/telemetry")
    wait_for(consumer, "smartmeter/meter-a/telemetry")
    assert [topic for topic, _ in consumer.received] == ["smartmeter/meter-a/telemetry"]

    # A meter may not read other meters' telemetry, not even its own.
    assert meter.subscribe("smartmeter/+/telemetry") == ["Not authorized"]
    other = clients(administered.port, "meter-b", neighbour_password)
    other.publish("smartmeter/meter-b/telemetry")
    wait_for(consumer, "smartmeter/meter-b/telemetry")
    assert meter.received == []


@pytest.mark.django_db
def test_a_tasmota_meter_publishes_under_its_own_root_only(administered, clients):
    mine = DeviceFactory(device_id="tas-a", payload_format="tasmota")
    provision(DeviceFactory(device_id="tas-b", payload_format="tasmota"))
    consumer = clients(administered.port, CONSUMER, CONSUMER_PASSWORD)
    for topic in ("$share/consumers/tele/+/SENSOR", "$share/consumers/smartmeter/+/telemetry"):
        assert consumer.subscribe(topic) == ["Granted QoS 1"]

    meter = clients(administered.port, "tas-a", provision(mine))
    assert meter.connected
    meter.publish("tele/tas-b/SENSOR", b'{"ENERGY": {"Total": 999999}}')  # another meter's: dropped
    meter.publish("smartmeter/tas-b/telemetry", b'{"energy_kwh": 999999}')  # dropped
    meter.publish("smartmeter/tas-a/telemetry", b'{"energy_kwh": 999999}')  # not its format's: dropped
    meter.publish("tele/tas-a/SENSOR", b'{"ENERGY": {"Total": 1.5}}')
    wait_for(consumer, "tele/tas-a/SENSOR")
    assert consumer.received == [("tele/tas-a/SENSOR", b'{"ENERGY": {"Total": 1.5}}')]
    # It receives no commands: the product sends none, so its role grants no subscription.
    assert meter.subscribe("cmnd/tas-a/#") == ["Not authorized"]


@pytest.mark.django_db
def test_changing_a_meters_format_in_the_admin_moves_its_permission(administered, clients, client, staff):
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    device = DeviceFactory(device_id="meter-f", owner=None, claimed_at=None)
    meter = clients(administered.port, "meter-f", provision(device))
    consumer = clients(administered.port, CONSUMER, CONSUMER_PASSWORD)
    for topic in ("smartmeter/+/telemetry", "shelly/+/status/em:0"):
        assert consumer.subscribe(topic) == ["Granted QoS 1"]

    response = client.post(
        f"/admin/devices/device/{device.pk}/change/",
        device_change_form(device, payload_format="shelly-gen2"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    device.refresh_from_db()
    assert device.payload_format == "shelly-gen2"

    meter.publish("smartmeter/meter-f/telemetry", b'{"energy_kwh": 1}')  # its old topic: dropped now
    meter.publish("shelly/meter-f/status/em:0", b'{"total_act_power": 120}')
    wait_for(consumer, "shelly/meter-f/status/em:0")
    assert [topic for topic, _ in consumer.received] == ["shelly/meter-f/status/em:0"]
    with BrokerAccounts(BrokerSettings.from_url(administered.admin_url)) as accounts:
        role = accounts.command("getRole", rolename="meter-meter-f")["role"]
    assert acls_from_broker(role["acls"]) == {("publishClientSend", "shelly/meter-f/#", True)}


@pytest.mark.django_db
def test_a_format_change_the_broker_refuses_is_not_saved(administered, client, staff, settings):
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    device = DeviceFactory(device_id="meter-g", owner=None, claimed_at=None)
    provision(device)
    settings.MQTT_ADMIN_URL = administered.url(ADMIN, "wrong")
    response = client.post(
        f"/admin/devices/device/{device.pk}/change/",
        device_change_form(device, payload_format="tasmota"),
        follow=True,
    )
    assert "Nothing was saved: broker administration (MQTT_ADMIN_URL) is unusable" in response.content.decode()
    device.refresh_from_db()
    assert device.payload_format == "native"


@pytest.mark.django_db
def test_anonymous_clients_and_wrong_passwords_are_refused_at_connect(administered, clients):
    DeviceFactory(device_id="meter-a")
    provision(DeviceFactory(device_id="meter-c"))
    assert clients(administered.port, None, None).refused == "Not authorized"
    assert clients(administered.port, "meter-c", "guessed-password").refused is not None
    assert clients(administered.port, "meter-a", "").refused is not None  # never provisioned


@pytest.mark.django_db
def test_a_rotated_password_ends_the_old_one_and_its_sessions(administered, clients, staff):
    device = DeviceFactory(device_id="meter-r")
    old = provision(device)
    connected_with_old = clients(administered.port, "meter-r", old)
    assert connected_with_old.connected

    new = meter_credentials_rotate(device=device, actor=staff).value
    assert new != old
    assert connected_with_old.disconnected.wait(15), "the session opened with the old password stayed open"
    assert clients(administered.port, "meter-r", old).refused is not None
    assert clients(administered.port, "meter-r", new).connected


@pytest.mark.django_db
def test_a_decommissioned_meter_cannot_connect(administered, clients):
    device = DeviceFactory(device_id="meter-d")
    password = provision(device)
    online = clients(administered.port, "meter-d", password)
    assert online.connected
    device_decommission(device=device)
    assert online.disconnected.wait(15)
    assert clients(administered.port, "meter-d", password).refused is not None
    with pytest.raises(MeterCredentialsError, match="decommissioned"):
        meter_credentials_rotate(device=device)


@pytest.mark.django_db
def test_provisioning_again_reclaims_the_meters_own_account(administered, clients):
    """A provisioning that rolled back after the broker answered leaves the account behind."""
    device = DeviceFactory(device_id="meter-p")
    first = provision(device)
    second = provision(device)
    assert clients(administered.port, "meter-p", first).refused is not None
    assert clients(administered.port, "meter-p", second).connected


@pytest.mark.django_db
def test_a_meter_id_never_takes_over_a_product_login(administered, clients):
    impostor = DeviceFactory(device_id=CONSUMER)
    with pytest.raises(MeterCredentialsError, match="not smartmeter-consumer's meter account"):
        device_provisioned(impostor)
    assert clients(administered.port, CONSUMER, CONSUMER_PASSWORD).connected


# --- the product's own logins ------------------------------------------------------------


@pytest.mark.django_db
def test_the_consumer_and_live_view_may_subscribe_but_never_publish_telemetry(administered, clients):
    device = DeviceFactory(device_id="meter-l")
    meter = clients(administered.port, "meter-l", provision(device))
    consumer = clients(administered.port, CONSUMER, CONSUMER_PASSWORD)
    live = clients(administered.port, LIVE, LIVE_PASSWORD)
    assert consumer.subscribe("smartmeter/+/telemetry") == ["Granted QoS 1"]
    assert live.subscribe("smartmeter/meter-l/telemetry") == ["Granted QoS 1"]
    assert live.subscribe("$share/smartmeter-live/smartmeter/meter-l/telemetry") == ["Granted QoS 1"]
    # The live view cannot join the consumers' group (it would take a share of their messages).
    assert live.subscribe("$share/consumers/smartmeter/+/telemetry") == ["Not authorized"]
    assert consumer.subscribe("#") == ["Not authorized"]

    consumer.publish("smartmeter/meter-l/telemetry", b'{"forged": "by the consumer"}')
    live.publish("smartmeter/meter-l/telemetry", b'{"forged": "by the live view"}')
    meter.publish("smartmeter/meter-l/telemetry", b'{"voltage": 231}')
    wait_for(consumer, "smartmeter/meter-l/telemetry")
    assert [payload for _, payload in consumer.received] == [b'{"voltage": 231}']


@pytest.mark.django_db
def test_setting_up_roles_twice_changes_nothing_the_second_time(administered, capsys):
    call_command("mqtt_setup_roles")
    assert "nothing to do" in capsys.readouterr().out
    with BrokerAccounts(BrokerSettings.from_url(administered.admin_url)) as accounts:
        roles = accounts.command("getClient", username=LIVE)["client"]["roles"]
        accounts.command("addClientRole", username=LIVE, rolename=CONSUMER_ROLE)  # drift: too much
    assert roles == [{"rolename": LIVE_ROLE}]
    call_command("mqtt_setup_roles", "--dry-run")
    assert f"would take role {CONSUMER_ROLE} from {LIVE}" in capsys.readouterr().out
    call_command("mqtt_setup_roles")
    with BrokerAccounts(BrokerSettings.from_url(administered.admin_url)) as accounts:
        assert accounts.command("getClient", username=LIVE)["client"]["roles"] == [{"rolename": LIVE_ROLE}]


# --- staff -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_rotate_a_password_in_the_admin_and_see_it_once(administered, client, staff, clients):
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    device = DeviceFactory(device_id="meter-s")
    old = provision(device)
    response = client.post(
        "/admin/devices/device/", {"action": "rotate_mqtt_password", "_selected_action": [device.pk]}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    new = page.split('<code class="mqtt-password">')[1].split("</code>")[0]
    assert len(new) >= 32
    assert new != old
    assert clients(administered.port, "meter-s", new).connected
    assert clients(administered.port, "meter-s", old).refused is not None


@pytest.mark.django_db
def test_without_broker_administration_there_are_no_hooks_and_no_rotate_action(settings, hooks, client, staff):
    settings.MQTT_ADMIN_URL = ""
    assert meter_credentials_hooks_register() is False
    assert device_provisioned(DeviceFactory()) == []
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    assert "rotate_mqtt_password" not in client.get("/admin/devices/device/").content.decode()


# --- the seam ----------------------------------------------------------------------------------


def test_an_error_reply_raises_with_the_plugins_reason(broker):
    with BrokerAccounts(BrokerSettings.from_url(broker.admin_url)) as accounts:
        assert accounts.command("getClient", username=ADMIN)["client"]["username"] == ADMIN
        with pytest.raises(BrokerAdminError, match="Client not found") as raised:
            accounts.command("getClient", username="nobody")
    assert (raised.value.command, raised.value.error) == ("getClient", "Client not found")


def test_a_refused_admin_login_raises(broker):
    with pytest.raises(BrokerAdminError, match="refused the admin"):
        BrokerAccounts(BrokerSettings.from_url(broker.url(ADMIN, "wrong")), timeout=5).open()


def test_a_broker_without_the_plugin_times_out_with_a_reason(tmp_path):
    open_broker = LocalBroker(directory=tmp_path / "open").start()
    try:
        with BrokerAccounts(BrokerSettings.from_url(open_broker.url), timeout=1) as accounts:
            with pytest.raises(BrokerAdminError, match="did not answer getClient"):
                accounts.command("getClient", username="meter-001")
    finally:
        open_broker.stop()


@pytest.mark.django_db
def test_meters_that_predate_broker_administration_get_logins_in_bulk(broker, settings, hooks, clients, capsys):
    old, retired = DeviceFactory(), DeviceFactory(status="decommissioned")  # provisioned with no admin configured
    settings.MQTT_ADMIN_URL = broker.admin_url
    administered_already = DeviceFactory()
    meter_credentials_hooks_register()
    device_provisioned(administered_already)  # has its login from provisioning

    call_command("mqtt_issue_credentials", "--dry-run")
    planned = capsys.readouterr().out
    assert f"would create a broker login for {old.device_id}" in planned
    assert administered_already.device_id not in planned
    assert retired.device_id not in planned

    call_command("mqtt_issue_credentials")
    rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()]
    assert rows[0] == ["device_id", "username", "password"]
    assert [row[:2] for row in rows[1:]] == [[old.device_id, old.device_id]]
    meter = clients(broker.port, old.device_id, rows[1][2])
    assert meter.connected, meter.refused

    call_command("mqtt_issue_credentials")  # a second run finds nothing missing
    assert capsys.readouterr().out.strip().splitlines() == ["device_id,username,password"]
