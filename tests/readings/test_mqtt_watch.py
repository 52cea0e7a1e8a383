"""The broker seam's TelemetryWatcher (the live view's subscriptions) against a real Mosquitto."""

import json
import queue
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readings.ingestion.mqtt import MQTT_V5, MQTT_V311, BrokerSettings, TelemetryWatcher, WatchedMessage
from tests.dashboard.live_helpers import publish, telemetry, unique_device_id
from tests.readings.ingest_helpers import LocalBroker, sever_connection
from tests.support.network import free_port, wait_until
from tests.support.services import service_missing

pytestmark = pytest.mark.broker

ANSWER_SECONDS = 15  # what must arrive gets this long on a busy shared machine


class Recorder:
    """A watcher's callbacks, kept for the test to read on its own thread."""

    def __init__(self):
        self.messages: queue.Queue[WatchedMessage] = queue.Queue()
        self.states: list[bool] = []

    def on_message(self, message: WatchedMessage) -> None:
        self.messages.put(message)

    def on_state(self, connected: bool, detail: str) -> None:
        self.states.append(connected)

    def next_message(self, timeout: float = ANSWER_SECONDS) -> WatchedMessage:
        return self.messages.get(timeout=timeout)

    def drain(self, quiet: float = 0.5) -> list[WatchedMessage]:
        """Whatever else arrives until nothing has for `quiet` seconds."""
        extra = []
        while True:
            try:
                extra.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return extra


@pytest.fixture
def watchers():
    """Build watchers on a broker address; every one is stopped at the end of the test."""
    built = []

    def build(broker: tuple[str, int], **kwargs) -> tuple[TelemetryWatcher, Recorder]:
        host, port = broker
        recorder = Recorder()
        watcher = TelemetryWatcher(
            BrokerSettings.from_url(f"mqtt://{host}:{port}"),
            client_id=f"test-watcher-{uuid.uuid4().hex[:8]}",
            on_message=recorder.on_message,
            on_state=recorder.on_state,
            **kwargs,
        )
        built.append(watcher)
        return watcher, recorder

    yield build
    for watcher in built:
        watcher.stop()


@pytest.mark.parametrize("watched_before_start", [True, False], ids=["before-start", "once-connected"])
def test_a_reading_published_the_moment_watch_is_confirmed_arrives(mosquitto, watchers, watched_before_start):
    """Connecting is not subscribing: the confirmation waits for the SUBACK, fresh connections many times over."""
    for _ in range(5):
        watcher, recorder = watchers(mosquitto)
        device_id = unique_device_id("watch")
        if watched_before_start:
            confirmation = watcher.watch(device_id)
            watcher.start()
        else:
            watcher.start()
            wait_until(lambda w=watcher: w.connected, timeout=ANSWER_SECONDS, message="the watcher to connect")
            confirmation = watcher.watch(device_id)
        assert confirmation.result(ANSWER_SECONDS) is True
        publish(mosquitto, device_id, telemetry(power_w=5.0))
        assert json.loads(recorder.next_message().payload)["power_w"] == 5.0
        watcher.stop()


def test_messages_arrive_as_plain_values(mosquitto, watchers):
    watcher, recorder = watchers(mosquitto)
    device_id = unique_device_id("watch")
    watcher.start()
    assert watcher.watch(device_id).result(ANSWER_SECONDS) is True
    before = datetime.now(UTC)
    publish(mosquitto, device_id, b'{"power_w": 12.5}')
    message = recorder.next_message()
    assert message == (f"smartmeter/{device_id}/telemetry", b'{"power_w": 12.5}', message.received_at, False)
    assert type(message.payload) is bytes
    assert message.received_at.tzinfo is UTC
    assert before <= message.received_at <= datetime.now(UTC)


@pytest.mark.parametrize("protocol", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt3.1.1"])
def test_a_retained_message_is_not_replayed_as_live_when_a_meter_is_watched(
    mosquitto, watchers, retained_on_mosquitto, protocol
):
    """MQTT v5: Retain Handling 2, the broker sends nothing. MQTT 3.1.1 has no such option: the
    replay arrives, flagged `retained` for the live view to drop. Live messages still flow, and
    carry retain=0 even when the meter set the flag (the replay alone carries it)."""
    device_id = unique_device_id("retained")
    retained_on_mosquitto(device_id, telemetry(power_w=666.0))
    watcher, recorder = watchers(mosquitto, protocol=protocol)
    watcher.start()
    assert watcher.watch(device_id).result(ANSWER_SECONDS) is True
    replayed = recorder.drain()
    if protocol == MQTT_V5:
        assert replayed == []
    else:
        assert [(json.loads(m.payload)["power_w"], m.retained) for m in replayed] == [(666.0, True)]

    publish(mosquitto, device_id, telemetry(power_w=7.0), retain=True)  # a meter set to retain
    publish(mosquitto, device_id, telemetry(power_w=8.0))
    live = [recorder.next_message(), recorder.next_message()]
    assert [(json.loads(m.payload)["power_w"], m.retained) for m in live] == [(7.0, False), (8.0, False)]


def test_only_watched_meters_arrive_until_they_are_unwatched(mosquitto, watchers):
    watcher, recorder = watchers(mosquitto)
    watched, other = unique_device_id("watch"), unique_device_id("watch")
    watcher.start()
    assert watcher.watch(watched).result(ANSWER_SECONDS) is True
    assert watcher.watched() == {watched}
    publish(mosquitto, other, telemetry(power_w=1.0))
    publish(mosquitto, watched, telemetry(power_w=2.0))
    assert [recorder.next_message().topic, *[m.topic for m in recorder.drain()]] == [f"smartmeter/{watched}/telemetry"]

    watcher.unwatch(watched)
    assert watcher.watched() == set()
    time.sleep(0.2)  # let the UNSUBSCRIBE reach the broker
    publish(mosquitto, watched, telemetry(power_w=3.0))
    assert recorder.drain() == []


def _close_socket_under_paho(watcher: TelemetryWatcher) -> None:
    watcher._client.socket().close()  # paho reconnects without calling on_disconnect


@pytest.mark.parametrize("drop", [sever_connection, _close_socket_under_paho], ids=["tcp-closed", "socket-closed"])
def test_watched_meters_are_subscribed_again_after_the_connection_drops(mosquitto, watchers, drop):
    watcher, recorder = watchers(mosquitto)
    device_id = unique_device_id("watch")
    watcher.start()
    assert watcher.watch(device_id).result(ANSWER_SECONDS) is True
    assert recorder.states == [True]

    drop(watcher)
    wait_until(lambda: recorder.states[-2:] == [False, True], timeout=ANSWER_SECONDS, message="a reconnect")
    assert watcher.connected
    # The resubscription is on its way with the reconnect; a new watch's SUBACK comes after it.
    assert watcher.watch(unique_device_id("watch")).result(ANSWER_SECONDS) is True
    publish(mosquitto, device_id, telemetry(power_w=99.0))
    assert json.loads(recorder.next_message().payload)["power_w"] == 99.0


def test_a_shared_group_hands_each_reading_to_one_watcher(mosquitto, watchers):
    group = f"test-{uuid.uuid4().hex[:8]}"
    first, first_seen = watchers(mosquitto, shared_group=group)
    second, second_seen = watchers(mosquitto, shared_group=group)
    device_id = unique_device_id("watch")
    for watcher in (first, second):
        watcher.start()
        assert watcher.watch(device_id).result(ANSWER_SECONDS) is True
    for power in (1.0, 2.0, 3.0, 4.0):
        publish(mosquitto, device_id, telemetry(power_w=power))
    wait_until(
        lambda: first_seen.messages.qsize() + second_seen.messages.qsize() >= 4,
        timeout=ANSWER_SECONDS,
        message="four readings",
    )
    received = first_seen.drain() + second_seen.drain()
    assert sorted(json.loads(message.payload)["power_w"] for message in received) == [1.0, 2.0, 3.0, 4.0]


def test_without_a_broker_a_watch_waits_and_answers_false_when_unwatched_or_stopped(watchers):
    watcher, recorder = watchers(("127.0.0.1", free_port()))
    leaving, staying = unique_device_id("watch"), unique_device_id("watch")
    watcher.start()
    leaving_answer, staying_answer = watcher.watch(leaving), watcher.watch(staying)
    time.sleep(0.5)
    assert not leaving_answer.done()
    assert not staying_answer.done()
    assert watcher.connected is False

    watcher.unwatch(leaving)
    assert leaving_answer.result(1) is False
    assert not staying_answer.done()
    watcher.stop()
    assert staying_answer.result(1) is False
    assert watcher.watch(staying).result(1) is False  # a stopped watcher never connects again
    assert True not in recorder.states


# --- a broker that refuses subscriptions (per-role ACLs) --------------


@pytest.fixture
def refusing_broker(tmp_path):
    """Mosquitto with the dynamic security plugin: anonymous clients may subscribe to one meter only."""
    plugin = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
    if shutil.which("mosquitto_ctrl") is None or not plugin.exists():
        service_missing("mosquitto_ctrl and the dynamic security plugin are needed to refuse a subscription")
    allowed = unique_device_id("allowed")
    config = tmp_path / "dynsec.json"
    subprocess.run(
        ["mosquitto_ctrl", "dynsec", "init", str(config), "admin", "admin-pass"], check=True, capture_output=True
    )
    security = json.loads(config.read_text())
    security["roles"].append(
        {
            "rolename": "live",
            "acls": [{"acltype": "subscribeLiteral", "topic": f"smartmeter/{allowed}/telemetry", "allow": True}],
        }
    )
    security.setdefault("groups", []).append({"groupname": "anonymous", "roles": [{"rolename": "live"}]})
    security["anonymousGroup"] = "anonymous"
    config.write_text(json.dumps(security))
    broker = LocalBroker(
        directory=tmp_path / "broker", extra=f"plugin {plugin}\nplugin_opt_config_file {config}\n"
    ).start()
    yield broker, allowed
    broker.stop()


@pytest.mark.parametrize("protocol", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt3.1.1"])
def test_a_refused_subscription_is_answered_false_meter_by_meter(refusing_broker, watchers, protocol):
    broker, allowed = refusing_broker
    watcher, _ = watchers((broker.host, broker.port), protocol=protocol)
    refused = unique_device_id("refused")
    # Both ride on the one SUBSCRIBE sent as the connection comes up: answered meter by meter.
    allowed_answer, refused_answer = watcher.watch(allowed), watcher.watch(refused)
    watcher.start()
    assert allowed_answer.result(ANSWER_SECONDS) is True
    assert refused_answer.result(ANSWER_SECONDS) is False
    # And one at a time on a live connection.
    assert watcher.watch(refused).result(ANSWER_SECONDS) is False
    assert watcher.watch(allowed).result(ANSWER_SECONDS) is True
