"""Claiming a provisioned meter with its code (devices.services.device_claim, POST /api/devices):
no squatting without the code, one answer for every failure, single use, hashed at rest, rate limited."""

import pytest
from django.db import connection

from devices.models import Device
from devices.services import (
    CLAIM_REFUSED_MESSAGE,
    DeviceNotClaimable,
    claim_code_normalize,
    device_claim,
    device_decommission,
)
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory

pytestmark = pytest.mark.django_db


def _claim(client, device_id, claim_code=CLAIM_CODE, **extra):
    return client.post("/api/devices", {"device_id": device_id, "claim_code": claim_code}, format="json", **extra)


# --- the service ---------------------------------------------------------------------------


def test_the_right_code_makes_the_customer_the_owner_and_is_used_up(customer):
    UnclaimedDeviceFactory(device_id="m-1")
    device = device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=customer, name="Home")
    device.refresh_from_db()
    assert device.owner == customer
    assert device.claimed_at is not None
    assert device.name == "Home"
    assert device.claim_code_hash == ""


@pytest.mark.parametrize("typed", ["k7qp3mxw9t", " K7QP 3MXW 9T ", "k7qp-3mxw-9t"])
def test_the_code_may_be_typed_without_dashes_or_in_lower_case(customer, typed):
    UnclaimedDeviceFactory(device_id="m-1")
    assert device_claim(device_id="m-1", claim_code=typed, user=customer).owner == customer


def test_a_second_customer_cannot_squat_a_provisioned_meter_without_its_code(customer, other_customer):
    UnclaimedDeviceFactory(device_id="m-1")
    for guess in ["", "AAAA-AAAA-AA", CLAIM_CODE[:-1] + "X"]:
        with pytest.raises(DeviceNotClaimable):
            device_claim(device_id="m-1", claim_code=guess, user=other_customer)
    assert Device.objects.get(device_id="m-1").owner is None
    # The real owner, with the code, still gets their meter.
    assert device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=customer).owner == customer


def test_a_claim_code_works_once(customer, other_customer):
    UnclaimedDeviceFactory(device_id="m-1")
    device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=customer)
    with pytest.raises(DeviceNotClaimable):
        device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=other_customer)
    with pytest.raises(DeviceNotClaimable):
        device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=customer)
    assert Device.objects.get(device_id="m-1").owner == customer


def test_a_decommissioned_meter_cannot_be_claimed(customer, staff):
    device = UnclaimedDeviceFactory(device_id="m-1")
    device_decommission(device=device, actor=staff)
    with pytest.raises(DeviceNotClaimable):
        device_claim(device_id="m-1", claim_code=CLAIM_CODE, user=customer)


def test_the_clear_claim_code_is_nowhere_in_the_meter_row(customer):
    device = UnclaimedDeviceFactory(device_id="m-1")
    table = connection.ops.quote_name(Device._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [device.pk])  # noqa: S608 - quoted name, placeholder
        row = " ".join(str(value) for value in cursor.fetchone())
    assert CLAIM_CODE not in row
    assert claim_code_normalize(CLAIM_CODE) not in row
    assert device.claim_code_hash.startswith("hmac-sha256$")  # keyed: useless without SECRET_KEY


# --- the API: one answer for every failure ----------------------------------------------------


def _failure_cases(customer, other_customer, staff):
    """Each way a claim can fail, as (name, device_id, code); all set up here."""
    UnclaimedDeviceFactory(device_id="open-meter")
    DeviceFactory(device_id="theirs", owner=other_customer)
    DeviceFactory(device_id="mine", owner=customer)
    device_decommission(device=UnclaimedDeviceFactory(device_id="retired"), actor=staff)
    return [
        ("unknown id", "no-such-meter", CLAIM_CODE),
        ("wrong code", "open-meter", "AAAA-AAAA-AA"),
        ("claimed by someone else", "theirs", CLAIM_CODE),
        ("claimed already by this customer", "mine", CLAIM_CODE),
        ("decommissioned", "retired", CLAIM_CODE),
    ]


def test_every_failed_claim_answers_byte_for_byte_the_same(api, customer, other_customer, staff):
    client = api(customer)
    answers = {}
    for name, device_id, code in _failure_cases(customer, other_customer, staff):
        response = _claim(client, device_id, code)
        answers[name] = (response.status_code, response["Content-Type"], response.content)
    assert set(answers.values()) == {
        (404, "application/json", f'{{"detail":"{CLAIM_REFUSED_MESSAGE}"}}'.encode()),
    }, answers
    assert Device.objects.get(device_id="open-meter").owner is None
    assert Device.objects.get(device_id="theirs").owner == other_customer


def test_the_api_claim_succeeds_with_the_code_and_then_the_meter_is_the_customers(api, customer, other_customer):
    UnclaimedDeviceFactory(device_id="open-meter")
    assert _claim(api(other_customer), "open-meter", "AAAA-AAAA-AA").status_code == 404
    response = _claim(api(customer), "open-meter")
    assert response.status_code == 201
    assert response.json()["owner"]["email"] == customer.email
    # Now it is theirs: visible to them, and for everyone else exactly like a missing meter.
    assert api(customer).get("/api/devices/open-meter").status_code == 200
    assert api(other_customer).get("/api/devices/open-meter").status_code == 404
    assert _claim(api(other_customer), "open-meter").json() == {"detail": CLAIM_REFUSED_MESSAGE}


def test_an_unclaimed_meter_is_in_no_customers_list_or_routes(api, customer):
    UnclaimedDeviceFactory(device_id="open-meter")
    assert api(customer).get("/api/devices").json() == []
    for path in ["/api/devices/open-meter", "/api/readings/open-meter", "/api/invoices/open-meter"]:
        assert api(customer).get(path).status_code == 404, path


# --- rate limits -----------------------------------------------------------------------------


def test_claims_are_limited_per_client_address(api, rate_limits, customer, other_customer):
    rate_limits.RATELIMIT_CLAIM = "3/h"
    UnclaimedDeviceFactory(device_id="open-meter")
    for user in (customer, other_customer, customer):
        assert _claim(api(user), "open-meter", "AAAA-AAAA-AA", REMOTE_ADDR="203.0.113.9").status_code == 404
    refused = _claim(api(other_customer), "open-meter", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert Device.objects.get(device_id="open-meter").owner is None  # not even the right code gets through


def test_claims_are_limited_per_account_from_any_address(api, rate_limits, customer, other_customer):
    rate_limits.RATELIMIT_CLAIM = "3/h"
    UnclaimedDeviceFactory(device_id="open-meter")
    for number in range(3):
        assert (
            _claim(api(customer), "open-meter", "AAAA-AAAA-AA", REMOTE_ADDR=f"198.51.100.{number}").status_code == 404
        )
    assert _claim(api(customer), "open-meter", REMOTE_ADDR="198.51.100.99").status_code == 429
    # Another account from a fresh address is not held back by it.
    assert _claim(api(other_customer), "open-meter", REMOTE_ADDR="192.0.2.50").status_code == 201


def test_staff_provisioning_does_not_spend_the_claim_budget(api, rate_limits, staff):
    rate_limits.RATELIMIT_CLAIM = "1/h"
    for number in range(3):
        response = api(staff).post("/api/devices", {"device_id": f"bulk-{number}"}, format="json")
        assert response.status_code == 201
