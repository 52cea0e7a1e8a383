"""The customer's "Add a meter" page: a meter's id and claim code, one answer for every failure,
rate limited like the API; unclaimed meters appear on no customer's pages."""

import re

import pytest

from devices.models import Device
from devices.services import CLAIM_REFUSED_MESSAGE
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def _add(client, device_id, claim_code=CLAIM_CODE, **extra):
    return client.post("/add-meter/", {"device_id": device_id, "claim_code": claim_code, "name": ""}, **extra)


def test_the_page_asks_anonymous_visitors_to_sign_in(client):
    response = client.get("/add-meter/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_my_meters_links_to_the_page(signed_in):
    assert 'href="/add-meter/"' in signed_in.get("/").content.decode()


def test_adding_a_meter_with_its_code_puts_it_on_my_meters(signed_in, customer):
    UnclaimedDeviceFactory(device_id="open-meter")
    response = signed_in.post("/add-meter/", {"device_id": "open-meter", "claim_code": "k7qp 3mxw 9t", "name": "Flat"})
    assert response.status_code == 302
    assert response["Location"] == "/meters/open-meter/"
    assert Device.objects.get(device_id="open-meter").owner == customer
    html = signed_in.get("/").content.decode()
    assert "Flat" in html
    assert "Meter open-meter is now on your account." in html


def test_every_failure_reads_the_same(signed_in, customer, other_customer, staff):
    UnclaimedDeviceFactory(device_id="open-meter")
    DeviceFactory(device_id="theirs", owner=other_customer)
    DeviceFactory(device_id="mine", owner=customer)
    pages = set()
    for device_id, code in [
        ("no-such-meter", CLAIM_CODE),
        ("open-meter", "AAAA-AAAA-AA"),
        ("theirs", CLAIM_CODE),
        ("mine", CLAIM_CODE),
    ]:
        response = _add(signed_in, device_id, code)
        html = CSRF.sub("", response.content.decode())
        html = html.replace(f'value="{device_id}"', 'value="X"').replace(f'value="{code}"', 'value="Y"')
        pages.add((response.status_code, html))
    assert len(pages) == 1
    status, html = pages.pop()
    assert status == 200
    assert CLAIM_REFUSED_MESSAGE in html
    assert Device.objects.get(device_id="open-meter").owner is None


def test_adding_is_rate_limited_per_account(signed_in, rate_limits):
    rate_limits.RATELIMIT_CLAIM = "2/h"
    UnclaimedDeviceFactory(device_id="open-meter")
    for number in range(2):
        assert _add(signed_in, "open-meter", "AAAA-AAAA-AA", REMOTE_ADDR=f"198.51.100.{number}").status_code == 200
    refused = _add(signed_in, "open-meter", REMOTE_ADDR="198.51.100.9", HTTP_ACCEPT="text/html")
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert Device.objects.get(device_id="open-meter").owner is None


def test_an_unclaimed_meter_is_on_no_customers_pages(signed_in, device):
    UnclaimedDeviceFactory(device_id="open-meter")
    assert "open-meter" not in signed_in.get("/").content.decode()
    assert signed_in.get("/meters/open-meter/").status_code == 404
    assert "open-meter" not in signed_in.get("/invoices/").content.decode()
