import pytest

from devices.models import Device
from devices.services import CLAIM_REFUSED_MESSAGE
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Permission matrix: anonymous, owner, other customer, staff x every endpoint ---------


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 200), ("staff", 200)])
def test_list_devices_permissions(api, device, customer, other_customer, staff, who, expected):
    users = {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}
    response = api(users[who]).get("/api/devices")
    assert response.status_code == expected
    if expected == 200:
        ids = [row["device_id"] for row in response.json()]
        assert ids == ([] if who == "other" else ["meter-001"])


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 200), ("other", 404), ("staff", 200)])
def test_device_detail_permissions(api, device, customer, other_customer, staff, who, expected):
    users = {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}
    response = api(users[who]).get("/api/devices/meter-001")
    assert response.status_code == expected
    assert "detail" in response.json() or response.json()["device_id"] == "meter-001"


def test_another_customers_meter_looks_exactly_like_a_missing_one(api, device, other_customer):
    hidden = api(other_customer).get("/api/devices/meter-001")
    missing = api(other_customer).get("/api/devices/meter-404")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("meter-001", "X") == missing.json()["detail"].replace("meter-404", "X")


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 204), ("other", 404), ("staff", 204)])
def test_delete_device_permissions(api, device, customer, other_customer, staff, who, expected):
    users = {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}
    response = api(users[who]).delete("/api/devices/meter-001")
    assert response.status_code == expected
    device.refresh_from_db()
    assert device.is_decommissioned is (expected == 204)


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 201), ("other", 201), ("staff", 201)])
def test_claim_device_permissions(api, customer, other_customer, staff, who, expected):
    users = {"anonymous": None, "owner": customer, "other": other_customer, "staff": staff}
    UnclaimedDeviceFactory(device_id="new-meter")
    response = api(users[who]).post(
        "/api/devices", {"device_id": "new-meter", "claim_code": CLAIM_CODE, "name": "Kitchen"}, format="json"
    )
    assert response.status_code == expected
    if expected == 201:
        assert Device.objects.get(device_id="new-meter").owner == users[who]


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 401), ("owner", 400), ("staff", 201)])
def test_only_staff_provision_meters(api, customer, staff, who, expected):
    users = {"anonymous": None, "owner": customer, "staff": staff}
    response = api(users[who]).post("/api/devices", {"device_id": "new-meter", "serial": "SN-1"}, format="json")
    assert response.status_code == expected
    assert Device.objects.filter(device_id="new-meter").exists() is (expected == 201)


# --- Behaviour ------------------------------------------------------------------------


def test_list_shape_is_the_documented_one(api, device, customer):
    row = api(customer).get("/api/devices").json()[0]
    assert set(row) == {"device_id", "name", "location", "last_seen", "status"}


def test_detail_has_full_metadata(api, device, customer):
    body = api(customer).get("/api/devices/meter-001").json()
    for field in (
        "device_id",
        "name",
        "location",
        "owner",
        "wifi_ssid",
        "status",
        "last_seen",
        "firmware_version",
        "created_at",
    ):
        assert field in body
    assert body["owner"]["email"] == customer.email


def test_a_customer_claims_a_meter_to_themselves(api, customer):
    UnclaimedDeviceFactory(device_id="asha_02", location="MG Road")
    response = api(customer).post(
        "/api/devices", {"device_id": "asha_02", "claim_code": CLAIM_CODE, "name": "Shop"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["owner"]["email"] == customer.email
    assert body["name"] == "Shop"
    assert body["claimed_at"] is not None
    assert body["claim_code"] is None
    assert body["secrets"] == []


def test_a_customer_cannot_give_a_meter_to_someone_else(api, customer, other_customer):
    UnclaimedDeviceFactory(device_id="gift")
    response = api(customer).post(
        "/api/devices", {"device_id": "gift", "claim_code": CLAIM_CODE, "owner": other_customer.pk}, format="json"
    )
    # `owner` is not part of a claim: the meter goes to the caller, never to the named customer.
    assert Device.objects.get(device_id="gift").owner == customer
    assert response.status_code == 201


def test_a_customer_cannot_provision_without_a_claim_code(api, customer):
    response = api(customer).post("/api/devices", {"device_id": "sneaky"}, format="json")
    assert response.status_code == 400
    assert "claim_code" in response.json()
    assert not Device.objects.filter(device_id="sneaky").exists()


def test_staff_may_provision_a_meter_straight_to_a_customer(api, staff, customer):
    response = api(staff).post("/api/devices", {"device_id": "for-asha", "owner": customer.pk}, format="json")
    assert response.status_code == 201
    device = Device.objects.get(device_id="for-asha")
    assert device.owner == customer
    assert device.claim_code_hash == ""
    assert response.json()["claim_code"] is None


def test_claiming_a_known_device_id_answers_404_not_409(api, device, other_customer):
    response = api(other_customer).post(
        "/api/devices", {"device_id": "meter-001", "claim_code": CLAIM_CODE}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"detail": CLAIM_REFUSED_MESSAGE}
    device.refresh_from_db()
    assert device.owner.email == "asha@example.com"


def test_staff_provision_a_meter_of_another_payload_format(api, staff):
    response = api(staff).post("/api/devices", {"device_id": "em-1", "payload_format": "shelly-gen2"}, format="json")
    assert response.status_code == 201
    assert response.json()["payload_format"] == "shelly-gen2"
    assert Device.objects.get(device_id="em-1").payload_format == "shelly-gen2"
    refused = api(staff).post("/api/devices", {"device_id": "em-2", "payload_format": "zigbee"}, format="json")
    assert refused.status_code == 400
    assert "payload_format" in refused.json()
    assert api(staff).post("/api/devices", {"device_id": "em-3"}, format="json").json()["payload_format"] == "native"


def test_provisioning_a_known_device_id_is_a_409_for_staff(api, device, staff):
    response = api(staff).post("/api/devices", {"device_id": "meter-001"}, format="json")
    assert response.status_code == 409
    assert "already registered" in response.json()["detail"]


@pytest.mark.parametrize(
    "device_id", ["has space", "slash/level", "plus+", "hash#", "x" * 65, "", "ünïcode", "smartmeter/+/telemetry"]
)
def test_device_ids_that_cannot_be_a_topic_level_are_refused(api, customer, device_id):
    response = api(customer).post("/api/devices", {"device_id": device_id, "claim_code": CLAIM_CODE}, format="json")
    assert response.status_code == 400
    assert "device_id" in response.json()


def test_decommissioning_keeps_the_meter_and_its_history(api, device, customer):
    assert api(customer).delete("/api/devices/meter-001").status_code == 204
    device.refresh_from_db()
    assert device.status == Device.Status.DECOMMISSIONED
    assert device.decommissioned_at is not None
    assert device not in Device.objects.billable()
    # Still listed (with its status) so the customer can reach old invoices.
    assert api(customer).get("/api/devices/meter-001").json()["status"] == "decommissioned"


def test_staff_filter_by_owner_and_status(api, staff, customer, other_customer):
    DeviceFactory(device_id="a1", owner=customer, status="online")
    DeviceFactory(device_id="a2", owner=customer, status="offline")
    DeviceFactory(device_id="b1", owner=other_customer, status="online")
    ids = lambda query: [row["device_id"] for row in api(staff).get("/api/devices" + query).json()]  # noqa: E731
    assert ids(f"?owner={customer.pk}") == ["a1", "a2"]
    assert ids("?status=online") == ["a1", "b1"]
    assert ids(f"?owner={customer.pk}&status=online") == ["a1"]


def test_a_customer_cannot_widen_their_list_with_the_owner_filter(api, customer, other_customer):
    DeviceFactory(device_id="b1", owner=other_customer)
    assert api(customer).get(f"/api/devices?owner={other_customer.pk}").json() == []


def test_bad_filters_are_a_400(api, staff):
    response = api(staff).get("/api/devices?status=sleeping")
    assert response.status_code == 400
    assert "status" in response.json()


def test_list_is_paginated_with_headers(api, staff):
    owner = UserFactory()
    for number in range(7):
        DeviceFactory(device_id=f"p-{number}", owner=owner)
    response = api(staff).get("/api/devices?page_size=3&page=2")
    assert [row["device_id"] for row in response.json()] == ["p-3", "p-4", "p-5"]
    assert response["X-Total-Count"] == "7"
    assert 'rel="next"' in response["Link"]
    assert 'rel="prev"' in response["Link"]
    assert api(staff).get("/api/devices?page=99").status_code == 404
