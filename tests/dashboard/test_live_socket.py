"""The live WebSocket /ws/devices/<device_id>/live: who may open it, and what it pushes."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from dashboard.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from dashboard.live import live_fanout, live_fanout_reset, live_group_name
from smartmeter.routing import websocket_urlpatterns
from tests.dashboard.live_helpers import publish, telemetry, unique_device_id
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer_and_fanout(settings, mosquitto):
    host, port = mosquitto
    settings.MQTT_URL = f"mqtt://{host}:{port}"
    settings.LIVE_MQTT_SHARED_GROUP = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    live_fanout_reset()
    yield
    live_fanout_reset()


@pytest.fixture
def meter(customer):
    return DeviceFactory(device_id=unique_device_id("ws"), owner=customer, name="Home")


def _socket(user, device_id):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/devices/{device_id}/live")
    communicator.scope["user"] = user
    return communicator


async def _open(user, device_id):
    communicator = _socket(user, device_id)
    connected, detail = await communicator.connect(timeout=5)
    return communicator, connected, detail


async def _messages_until_status(communicator) -> list[dict]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=5)
        messages.append(message)
        if message["type"] == "status":
            return messages


@pytest.mark.parametrize(
    ("who", "expected_code"),
    [("anonymous", CLOSE_UNAUTHENTICATED), ("other_customer", CLOSE_NOT_FOUND)],
)
def test_only_the_owner_or_staff_may_open_the_socket(who, expected_code, meter, other_customer):
    user = AnonymousUser() if who == "anonymous" else other_customer

    async def scenario():
        communicator, connected, code = await _open(user, meter.device_id)
        await communicator.wait()
        return connected, code

    assert async_to_sync(scenario)() == (False, expected_code)
    assert live_fanout().watched() == {}


def test_an_unknown_meter_is_refused_like_another_customers(customer):
    async def scenario():
        communicator, connected, code = await _open(customer, "no-such-meter")
        await communicator.wait()
        return connected, code

    assert async_to_sync(scenario)() == (False, CLOSE_NOT_FOUND)


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_owner_and_staff_are_accepted_and_told_when_live(who, meter, staff):
    user = meter.owner if who == "owner" else staff

    async def scenario():
        communicator, connected, _ = await _open(user, meter.device_id)
        messages = await _messages_until_status(communicator)
        watched = live_fanout().watched()
        await communicator.disconnect()
        return connected, messages, watched

    connected, messages, watched = async_to_sync(scenario)()
    assert connected is True
    assert messages[-1] == {"type": "status", "live": True}
    assert watched == {meter.device_id: 1}
    assert live_fanout().watched() == {}


@pytest.mark.broker
def test_a_published_reading_reaches_the_browser_within_a_second(meter, mosquitto):
    async def scenario():
        communicator, _, _ = await _open(meter.owner, meter.device_id)
        await _messages_until_status(communicator)
        loop = asyncio.get_running_loop()
        sent_at = await asyncio.to_thread(publish, mosquitto, meter.device_id, telemetry(power_w=2468.0, current=10.7))
        # Wait longer than the promise so a slow delivery fails on its latency, not a timeout.
        message = await communicator.receive_json_from(timeout=5)
        latency = loop.time() - sent_at  # both on the monotonic clock
        await communicator.disconnect()
        return message, latency

    message, latency = async_to_sync(scenario)()
    assert message["type"] == "reading"
    assert message["latest"] is False
    reading = message["reading"]
    assert (reading["device_id"], reading["power_w"], reading["current"]) == (meter.device_id, 2468.0, 10.7)
    assert {"voltage", "timestamp"} <= reading.keys()
    assert latency < 1.0


def test_two_watchers_share_one_subscription_until_the_last_leaves(meter, staff):
    async def scenario():
        first, _, _ = await _open(meter.owner, meter.device_id)
        await _messages_until_status(first)
        second, _, _ = await _open(staff, meter.device_id)
        await _messages_until_status(second)
        both = live_fanout().watched()
        await first.disconnect()
        one = live_fanout().watched()
        await second.disconnect()
        return both, one, live_fanout().watched()

    assert async_to_sync(scenario)() == ({meter.device_id: 2}, {meter.device_id: 1}, {})


def test_the_socket_ignores_what_the_browser_sends(meter):
    async def scenario():
        communicator, _, _ = await _open(meter.owner, meter.device_id)
        await _messages_until_status(communicator)
        await communicator.send_to(text_data=json.dumps({"type": "reading", "power_w": 1}))
        await get_channel_layer().group_send(
            live_group_name(meter.device_id),
            {"type": "reading.live", "reading": {"device_id": meter.device_id, "power_w": 5.0}},
        )
        message = await communicator.receive_json_from(timeout=2)
        nothing_else = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return message, nothing_else

    message, nothing_else = async_to_sync(scenario)()
    assert message["reading"]["power_w"] == 5.0
    assert nothing_else is True


def test_the_full_asgi_stack_uses_the_session_cookie_and_checks_the_origin(meter, customer, other_customer):
    from smartmeter.asgi import application

    def cookie_for(user):
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    async def attempt(cookie, origin=b"http://localhost:8000"):
        communicator = WebsocketCommunicator(
            application,
            f"/ws/devices/{meter.device_id}/live",
            headers=[(b"cookie", cookie), (b"origin", origin), (b"host", b"localhost:8000")],
        )
        connected, detail = await communicator.connect(timeout=5)
        if connected:
            await _messages_until_status(communicator)
            await communicator.disconnect()
        return connected, detail

    owner_cookie, other_cookie = cookie_for(customer), cookie_for(other_customer)
    assert async_to_sync(attempt)(owner_cookie)[0] is True
    assert async_to_sync(attempt)(other_cookie) == (False, CLOSE_NOT_FOUND)
    assert async_to_sync(attempt)(b"sessionid=forged") == (False, CLOSE_UNAUTHENTICATED)
    # A page on another site cannot open the socket with the customer's cookie.
    assert async_to_sync(attempt)(owner_cookie, b"https://evil.example")[0] is False
