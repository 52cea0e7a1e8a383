"""Staff provision meters (devices.services, POST /api/devices as staff): a row with no owner,
a claim code shown once, the life-cycle hooks' secrets, code resets and direct assignment."""

from decimal import Decimal

import pytest

from devices import lifecycle
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device
from devices.services import (
    CLAIM_CODE_ALPHABET,
    DeviceAlreadyRegistered,
    DeviceNotClaimable,
    DeviceUnavailable,
    claim_code_matches,
    claim_code_normalize,
    device_assign,
    device_claim,
    device_claim_code_reset,
    device_decommission,
    device_provision,
)
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_hook():
    """A provisioning hook like the broker-credentials one: it hands back a secret to show once."""

    def hook(device):
        return ProvisionedSecrets(label="MQTT password", value=f"pw-for-{device.device_id}")

    lifecycle.on_provisioned(hook)
    yield hook
    lifecycle._on_provisioned.remove(hook)


def test_provisioning_makes_an_unowned_meter_with_a_hashed_claim_code(staff):
    device, code, secrets = device_provision(
        device_id="p-1", serial="SN-1", sanctioned_load_kw=Decimal("7.50"), location="MG Road", name="Shop", actor=staff
    )
    device.refresh_from_db()
    assert device.owner is None
    assert device.claimed_at is None
    assert device.sanctioned_load_kw == Decimal("7.50")
    assert secrets == []
    assert len(claim_code_normalize(code)) == 10
    assert set(claim_code_normalize(code)) <= set(CLAIM_CODE_ALPHABET)
    assert code.count("-") == 2
    assert code not in device.claim_code_hash
    assert claim_code_matches(code, device.claim_code_hash)


def test_the_default_sanctioned_load_is_five_kilowatts(staff):
    assert device_provision(device_id="p-1", actor=staff).device.sanctioned_load_kw == Decimal("5.00")


def test_a_meter_is_provisioned_in_its_payload_format_native_unless_told(staff):
    assert device_provision(device_id="p-1", actor=staff).device.payload_format == "native"
    plug = device_provision(device_id="p-2", payload_format="tasmota", actor=staff).device
    plug.refresh_from_db()
    assert plug.payload_format == "tasmota"
    with pytest.raises(ValueError, match="unknown payload format"):
        device_provision(device_id="p-3", payload_format="modbus", actor=staff)
    assert not Device.objects.filter(device_id="p-3").exists()


def test_each_meter_gets_its_own_code(staff):
    codes = {device_provision(device_id=f"p-{n}", actor=staff).claim_code for n in range(20)}
    assert len(codes) == 20


def test_provisioning_runs_the_life_cycle_hooks_and_returns_their_secrets(staff, broker_hook):
    provisioned = device_provision(device_id="p-1", actor=staff)
    assert provisioned.secrets == [ProvisionedSecrets(label="MQTT password", value="pw-for-p-1")]


def test_a_failing_hook_rolls_the_meter_back(staff):
    def broken(device):
        raise RuntimeError("broker unreachable")

    lifecycle.on_provisioned(broken)
    try:
        with pytest.raises(RuntimeError):
            device_provision(device_id="p-1", actor=staff)
    finally:
        lifecycle._on_provisioned.remove(broken)
    assert not Device.objects.filter(device_id="p-1").exists()


def test_a_taken_id_or_serial_is_refused(staff):
    DeviceFactory(device_id="taken", serial="SN-9")
    with pytest.raises(DeviceAlreadyRegistered) as by_id:
        device_provision(device_id="taken", actor=staff)
    assert by_id.value.field == "device_id"
    with pytest.raises(DeviceAlreadyRegistered) as by_serial:
        device_provision(device_id="fresh", serial="SN-9", actor=staff)
    assert by_serial.value.field == "serial"


def test_many_old_meters_may_have_no_serial(staff):
    DeviceFactory(serial="")
    DeviceFactory(serial="")
    assert device_provision(device_id="p-1", serial="", actor=staff).device.serial == ""


def test_resetting_the_code_retires_the_old_one(customer, staff):
    device = UnclaimedDeviceFactory(device_id="p-1")
    new_code = device_claim_code_reset(device=device, actor=staff)
    assert claim_code_normalize(new_code) != claim_code_normalize(CLAIM_CODE)
    with pytest.raises(DeviceNotClaimable):
        device_claim(device_id="p-1", claim_code=CLAIM_CODE, user=customer)
    assert device_claim(device_id="p-1", claim_code=new_code, user=customer).owner == customer


def test_a_claimed_or_retired_meter_gets_no_new_code(device, staff):
    with pytest.raises(DeviceUnavailable):
        device_claim_code_reset(device=device, actor=staff)
    retired = UnclaimedDeviceFactory()
    device_decommission(device=retired, actor=staff)
    with pytest.raises(DeviceUnavailable):
        device_claim_code_reset(device=retired, actor=staff)


def test_staff_assign_an_unclaimed_meter_and_its_code_stops_working(customer, other_customer, staff):
    device = UnclaimedDeviceFactory(device_id="p-1")
    device_assign(device=device, owner=customer, actor=staff)
    device.refresh_from_db()
    assert device.owner == customer
    assert device.claimed_at is not None
    assert device.claim_code_hash == ""
    with pytest.raises(DeviceNotClaimable):
        device_claim(device_id="p-1", claim_code=CLAIM_CODE, user=other_customer)


# --- the API, as staff ------------------------------------------------------------------------


def test_staff_provision_through_the_api_and_see_the_code_once(api, staff, customer, broker_hook):
    response = api(staff).post(
        "/api/devices",
        {"device_id": "api-1", "serial": "SN-API-1", "sanctioned_load_kw": "12.50", "location": "Depot"},
        format="json",
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["owner"] is None
    assert body["sanctioned_load_kw"] == "12.50"
    assert body["secrets"] == [{"label": "MQTT password", "value": "pw-for-api-1"}]
    code = body["claim_code"]
    # Never again: the meter's own page has no code.
    detail = api(staff).get("/api/devices/api-1").json()
    assert "claim_code" not in detail
    assert code not in str(detail)
    # The code works for the customer it is handed to.
    claimed = api(customer).post("/api/devices", {"device_id": "api-1", "claim_code": code}, format="json")
    assert claimed.status_code == 201


def test_staff_see_unclaimed_meters_in_their_list(api, staff):
    UnclaimedDeviceFactory(device_id="open-1")
    assert "open-1" in [row["device_id"] for row in api(staff).get("/api/devices").json()]
    assert api(staff).get("/api/devices/open-1").json()["owner"] is None


def test_a_taken_serial_is_a_409_naming_the_field(api, staff):
    DeviceFactory(serial="SN-9")
    response = api(staff).post("/api/devices", {"device_id": "fresh", "serial": "SN-9"}, format="json")
    assert response.status_code == 409
    assert "serial" in response.json()


def test_staff_may_claim_with_a_code_like_anyone(api, staff):
    UnclaimedDeviceFactory(device_id="open-1")
    response = api(staff).post("/api/devices", {"device_id": "open-1", "claim_code": CLAIM_CODE}, format="json")
    assert response.status_code == 201
    assert response.json()["owner"]["email"] == staff.email
