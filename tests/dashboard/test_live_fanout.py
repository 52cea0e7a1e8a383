"""The web process's live fan-out: MQTT (real Mosquitto) -> channel group live.<device_id>."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.live import LiveFanout, live_group_name
from tests.dashboard.live_helpers import publish, telemetry, unique_device_id
from tests.readings.ingest_helpers import sever_connection
from tests.support.network import free_port, port_open

pytestmark = pytest.mark.broker


@pytest.fixture
def in_memory_layer(settings):
    # A fresh layer per test: each test runs its own event loop.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


@pytest.fixture
def fanout(mosquitto, settings):
    host, port = mosquitto
    settings.MQTT_URL = f"mqtt://{host}:{port}"
    fanouts = []

    def make(**kwargs):
        fanouts.append(LiveFanout(**kwargs))
        return fanouts[-1]

    yield make
    for each in fanouts:
        each.close()


async def _listen(layer, *device_ids: str) -> str:
    """A channel in the live groups of these meters, as a browser's socket would be."""
    channel = await layer.new_channel()
    for device_id in device_ids:
        await layer.group_add(live_group_name(device_id), channel)
    return channel


async def _receive(layer, channel, *, expected: int, within: float = 5.0, quiet: float = 0.3) -> list[dict]:
    """Wait (generously: shared machines are slow) for the expected messages, then a quiet spell for extras."""
    messages = []
    deadline = time.monotonic() + within
    while len(messages) < expected and (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), left))
        except TimeoutError:
            break
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), quiet))
        except TimeoutError:
            return messages


def test_a_published_reading_reaches_the_meters_group_within_a_second(mosquitto, in_memory_layer, fanout):
    live = fanout()
    device_id = unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, device_id)
        assert await live.watch(device_id) is True
        sent_at = await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=1875.0, voltage=229.5))
        # Wait longer than the promise so a slow delivery fails on its latency, not a timeout.
        message = await asyncio.wait_for(in_memory_layer.receive(channel), 5.0)
        return message, time.monotonic() - sent_at

    message, latency = async_to_sync(scenario)()
    assert message["type"] == "reading.live"
    assert message["reading"]["device_id"] == device_id
    assert message["reading"]["power_w"] == 1875.0
    assert message["reading"]["voltage"] == 229.5
    assert message["reading"]["timestamp"].endswith("+00:00")
    assert latency < 1.0


def test_an_off_the_shelf_meter_is_watched_on_its_own_topics_and_its_power_shown_live(
    mosquitto, in_memory_layer, fanout
):
    """A Shelly's power message (em:0) is shown live; its register message (emdata:0) carries no
    power and is not; a Tasmota's SENSOR message is shown (docs/ingestion.md#partial-messages)."""
    live = fanout()
    shelly, tasmota = unique_device_id(), unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, shelly, tasmota)
        assert await live.watch(shelly, "shelly-gen2") is True
        assert await live.watch(tasmota, "tasmota") is True
        power = {"id": 0, "total_act_power": 1234.5, "total_current": 5.4, "a_voltage": 230.0}
        await asyncio.to_thread(publish, mosquitto, shelly, power, topic=f"shelly/{shelly}/status/em:0")
        energy = {"id": 0, "total_act": 4873.29, "total_act_ret": 0}
        await asyncio.to_thread(publish, mosquitto, shelly, energy, topic=f"shelly/{shelly}/status/emdata:0")
        sensor = {"ENERGY": {"Total": 12.3, "Power": 87, "Voltage": 229}}
        await asyncio.to_thread(publish, mosquitto, tasmota, sensor, topic=f"tele/{tasmota}/SENSOR")
        return await _receive(in_memory_layer, channel, expected=2)

    messages = async_to_sync(scenario)()
    shown = {message["reading"]["device_id"]: message["reading"] for message in messages}
    assert len(messages) == 2
    assert shown[shelly]["power_w"] == 1234.5
    assert shown[shelly]["energy_kwh"] is None
    assert shown[shelly]["voltage"] == 230.0
    assert (shown[tasmota]["power_w"], shown[tasmota]["energy_kwh"]) == (87.0, 12.3)


def test_watch_answers_true_only_once_the_broker_holds_the_subscription(mosquitto, in_memory_layer, fanout):
    """The first watcher starts the connection; a reading published the moment watch() returns must arrive.

    Connecting is not subscribing: returning on CONNACK alone let a reading published right away
    reach the broker before the SUBSCRIBE did, and it was lost. Fresh connections, many times over.
    """

    async def scenario(live, device_id):
        channel = await _listen(in_memory_layer, device_id)
        assert await live.watch(device_id) is True
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=5.0))
        return await asyncio.wait_for(in_memory_layer.receive(channel), 3.0)

    for _ in range(10):
        device_id = unique_device_id()
        message = async_to_sync(scenario)(fanout(), device_id)
        assert message["reading"]["device_id"] == device_id


def test_invalid_telemetry_is_never_shown_live(mosquitto, in_memory_layer, fanout):
    live = fanout()
    device_id = unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, device_id)
        await live.watch(device_id)
        await asyncio.to_thread(publish, mosquitto, device_id, b"not json")
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(voltage=float(9000)))
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=42.0))
        return await _receive(in_memory_layer, channel, expected=1)

    messages = async_to_sync(scenario)()
    assert [m["reading"]["power_w"] for m in messages] == [42.0]


def test_the_meter_is_unsubscribed_when_its_last_watcher_leaves(mosquitto, in_memory_layer, fanout):
    live = fanout()
    device_id = unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, device_id)
        await live.watch(device_id)
        await live.watch(device_id)
        await live.unwatch(device_id)
        assert live.watched() == {device_id: 1}
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=1.0))
        still_watched = await _receive(in_memory_layer, channel, expected=1)
        await live.unwatch(device_id)
        assert live.watched() == {}
        await asyncio.sleep(0.2)  # let the UNSUBSCRIBE reach the broker
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=2.0))
        after_last = await _receive(in_memory_layer, channel, expected=0, quiet=0.5)
        return still_watched, after_last

    still_watched, after_last = async_to_sync(scenario)()
    assert [m["reading"]["power_w"] for m in still_watched] == [1.0]
    assert after_last == []


def test_a_retained_reading_is_never_shown_live_when_a_browser_starts_watching(
    mosquitto, in_memory_layer, fanout, retained_on_mosquitto
):
    """A message published with the retain flag stays at the broker for every new subscription:
    shown, it would pass an old (or planted) reading off as live power each time a page opens."""
    live = fanout()
    device_id = unique_device_id()
    retained_on_mosquitto(device_id, telemetry(power_w=66666.0))

    async def scenario():
        channel = await _listen(in_memory_layer, device_id)
        seen = []
        for power in (1.0, 2.0):  # a second page opening subscribes the meter afresh
            assert await live.watch(device_id) is True
            await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=power))
            seen.append(await _receive(in_memory_layer, channel, expected=1))
            await live.unwatch(device_id)
            await asyncio.sleep(0.2)  # let the UNSUBSCRIBE reach the broker
        return seen

    first, second = async_to_sync(scenario)()
    assert [m["reading"]["power_w"] for m in first] == [1.0]
    assert [m["reading"]["power_w"] for m in second] == [2.0]


def test_only_watched_meters_are_relayed(mosquitto, in_memory_layer, fanout):
    live = fanout()
    watched, other = unique_device_id(), unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, watched, other)
        await live.watch(watched)
        await asyncio.to_thread(publish, mosquitto, other, telemetry(power_w=7.0))
        await asyncio.to_thread(publish, mosquitto, watched, telemetry(power_w=8.0))
        return await _receive(in_memory_layer, channel, expected=1)

    messages = async_to_sync(scenario)()
    assert [(m["reading"]["device_id"], m["reading"]["power_w"]) for m in messages] == [(watched, 8.0)]


def test_web_processes_sharing_redis_fan_each_reading_out_once(mosquitto, redis_url, settings, fanout):
    """Two web processes watch the same meter: a browser must get each reading once, not twice."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    group = f"test-{unique_device_id()}"
    process_a = fanout(shared_group=group, client_id_prefix="web-a")
    process_b = fanout(shared_group=group, client_id_prefix="web-b")
    device_id = unique_device_id()

    async def scenario():
        layer = get_channel_layer()
        channel = await _listen(layer, device_id)
        assert await process_a.watch(device_id)
        assert await process_b.watch(device_id)
        for power in (10.0, 20.0, 30.0):
            await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=power))
        messages = await _receive(layer, channel, expected=3, quiet=0.5)
        await layer.group_discard(live_group_name(device_id), channel)
        await layer.flush()
        return messages

    messages = async_to_sync(scenario)()
    assert sorted(m["reading"]["power_w"] for m in messages) == [10.0, 20.0, 30.0]


def test_subscriptions_come_back_after_the_connection_drops(mosquitto, in_memory_layer, fanout):
    live = fanout()
    device_id = unique_device_id()

    async def scenario():
        channel = await _listen(in_memory_layer, device_id)
        await live.watch(device_id)
        sever_connection(live._watcher)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and live.connected.is_set():
            await asyncio.sleep(0.05)
        while time.monotonic() < deadline and not live.connected.is_set():
            await asyncio.sleep(0.05)
        assert live.connected.is_set(), "did not reconnect"
        await asyncio.sleep(0.3)  # the resubscription travels with the reconnect
        await asyncio.to_thread(publish, mosquitto, device_id, telemetry(power_w=99.0))
        return await asyncio.wait_for(in_memory_layer.receive(channel), 5.0)

    message = async_to_sync(scenario)()
    assert message["reading"]["power_w"] == 99.0


def test_live_power_works_with_the_embedded_mqtt_3_broker(settings, tmp_path, in_memory_layer):
    """Machines without Mosquitto run the pip amqtt broker (MQTT 3.1.1 only) for `make run`."""
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
    }
    with (tmp_path / "broker.log").open("ab") as log:
        broker = subprocess.Popen(
            [sys.executable, "manage.py", "run_broker", "--directory", str(tmp_path / "broker"), "--engine", "amqtt"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port, timeout=0.2):
            if broker.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the amqtt broker did not start:\n" + (tmp_path / "broker.log").read_text())
            time.sleep(0.1)
        settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
        live = LiveFanout()
        device_id = unique_device_id()

        async def scenario():
            channel = await _listen(in_memory_layer, device_id)
            # MQTT 3.1.1 cannot ask the broker to keep retained messages back: the replay
            # arrives flagged, and the fan-out drops it.
            await asyncio.to_thread(publish, ("127.0.0.1", port), device_id, telemetry(power_w=999.0), retain=True)
            assert await live.watch(device_id) is True
            await asyncio.to_thread(publish, ("127.0.0.1", port), device_id, telemetry(power_w=321.0))
            return await _receive(in_memory_layer, channel, expected=1)

        try:
            messages = async_to_sync(scenario)()
        finally:
            live.close()
        assert [m["reading"]["power_w"] for m in messages] == [321.0]
    finally:
        broker.terminate()
        broker.wait(timeout=10)
