"""The broker seam: the only module that imports paho-mqtt; callers see plain Python values.

`TelemetrySubscriber` (the consumer's persistent QoS 1 session with manual acks),
`TelemetryPublisher` (simulator, benchmarks), `TelemetryWatcher` (the live view's confirmed
subscriptions to chosen meters), `broker_probe` and `BrokerAccounts` (commands to Mosquitto's
dynamic security plugin: docs/deployment.md#mqtt-credentials). The session rules that keep telemetry
from being lost: docs/ingestion.md#delivery-guarantees.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.identity import telemetry_topic

logger = logging.getLogger("smartmeter.mqtt")

MQTT_V5 = 5
MQTT_V311 = 4
KEEPALIVE_SECONDS = 30


class MqttConfigError(ValueError):
    """MQTT_URL or the TLS files are unusable."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""

    @classmethod
    def from_url(cls, url: str, *, ca_file: str = "", client_cert: str = "", client_key: str = "") -> BrokerSettings:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS, port 8883 by default)."""
        parts = urlsplit(url.strip())
        if parts.scheme not in {"mqtt", "mqtts"}:
            raise MqttConfigError(f"MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise MqttConfigError(f"MQTT_URL has an invalid port: {exc}") from None
        if not parts.hostname:
            raise MqttConfigError("MQTT_URL has no host name")
        tls = parts.scheme == "mqtts"
        if client_key and not client_cert:
            raise MqttConfigError("MQTT_CLIENT_KEY is set without MQTT_CLIENT_CERT")
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            ca_file=ca_file,
            client_cert=client_cert,
            client_key=client_key,
        )

    @classmethod
    def from_settings(cls, url: str | None = None) -> BrokerSettings:
        from django.conf import settings

        return cls.from_url(
            url or settings.MQTT_URL,
            ca_file=settings.MQTT_CA_FILE,
            client_cert=settings.MQTT_CLIENT_CERT,
            client_key=settings.MQTT_CLIENT_KEY,
        )

    def describe(self) -> str:
        """The address for logs: never the password."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def mqtt_client(
    broker: BrokerSettings, *, client_id: str, protocol: int, manual_ack: bool = False, persistent: bool = False
) -> paho.Client:
    """A paho client configured for `broker` (credentials, TLS); the one place paho clients are built."""
    options = {}
    if protocol == MQTT_V311:
        options["clean_session"] = not persistent
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if protocol == MQTT_V5 else paho.MQTTv311,
        manual_ack=manual_ack,
        **options,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        try:
            client.tls_set(
                ca_certs=broker.ca_file or None,
                certfile=broker.client_cert or None,
                keyfile=broker.client_key or None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(f"cannot load the MQTT TLS files: {exc}") from exc
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def _connect_properties(*, session_expiry: int = 0, receive_maximum: int | None = None) -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    if session_expiry:
        properties.SessionExpiryInterval = session_expiry
    if receive_maximum:
        properties.ReceiveMaximum = receive_maximum
    return properties


def _subscription(topic_filter: str, *, qos: int, protocol: int) -> tuple[str, SubscribeOptions | int]:
    """One (filter, options) pair for SUBSCRIBE: on MQTT v5 the broker never sends retained messages.

    Retain Handling 2 stops the replay of a retained message (stale, or planted by whoever
    published it) at subscribe time; live deliveries are unaffected, as they carry retain=0.
    MQTT 3.1.1 has no such option: callers also drop what arrives flagged `retained`.
    docs/ingestion.md#retained-messages
    """
    if protocol == MQTT_V5:
        return topic_filter, SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
    return topic_filter, qos


def broker_probe(broker: BrokerSettings, *, timeout: float = 3.0) -> int | None:
    """The MQTT protocol a broker at this address accepts (5 or 4 = 3.1.1), None if none answers.

    A throwaway clean session is used, so probing never disturbs the consumer's session.
    A refusal for bad credentials or TLS raises MqttConfigError: waiting cannot fix it.
    """
    for protocol in (MQTT_V5, MQTT_V311):
        outcome = _try_connect(broker, protocol=protocol, timeout=timeout)
        if outcome == "ok":
            return protocol
        if outcome == "unreachable":
            return None
    return None


def _try_connect(broker: BrokerSettings, *, protocol: int, timeout: float) -> str:
    client = mqtt_client(
        broker, client_id=f"smartmeter-probe-{threading.get_native_id()}-{time.monotonic_ns()}", protocol=protocol
    )
    answer: dict[str, object] = {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties):
        answer["reason"] = reason_code

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except ssl.SSLCertVerificationError as exc:
        raise MqttConfigError(f"TLS verification failed for {broker.describe()}: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise MqttConfigError(f"TLS handshake with {broker.describe()} failed: {exc}") from exc
    except OSError:
        return "unreachable"
    deadline = time.monotonic() + timeout
    try:
        while "reason" not in answer and time.monotonic() < deadline:
            if client.loop(timeout=0.1) not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                break
    finally:
        client.disconnect()
        client.loop(timeout=0.05)
    reason = answer.get("reason")
    if reason is None:
        return "silent"  # closed or never answered: may be a 3.1.1-only broker
    if not reason.is_failure:
        return "ok"
    name = str(reason)
    if name in {"Not authorized", "Bad user name or password"}:
        raise MqttConfigError(f"the broker at {broker.describe()} refused the credentials ({name})")
    return "refused"


class InboundMessage(NamedTuple):
    """One received message. A tuple: it is built for every message on paho's thread, and a
    frozen dataclass costs five times as much to create."""

    topic: str | bytes  # bytes only when the topic is not valid UTF-8
    payload: bytes
    mid: int
    qos: int
    connection: int  # which connection delivered it; acks go back only on that one
    received_at: datetime
    redelivered: bool = False
    # A broker's stored copy replayed at subscribe time, not a live delivery (which has retain=0).
    retained: bool = False


class TelemetrySubscriber:
    """One persistent-session QoS 1 subscription with manual acknowledgements.

    `on_message` runs on paho's network thread and must only hand the message over
    (a queue put); `ack` may be called from any thread once the message is stored.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        topic: str | Sequence[str],
        on_message: Callable[[InboundMessage], None],
        session_expiry: int,
        receive_maximum: int,
        protocol: int = MQTT_V5,
        on_state: Callable[[bool, str], None] | None = None,
    ):
        self.broker = broker
        self.client_id = client_id
        # The first filter is the one the subscription cannot do without (the product's own
        # telemetry); the broker refusing another (a device format's) is logged, not fatal.
        self.topics = (topic,) if isinstance(topic, str) else tuple(topic)
        self.topic = ", ".join(self.topics)
        self.protocol = protocol
        self.receive_maximum = receive_maximum
        self._on_message = on_message
        self._on_state = on_state or (lambda connected, detail: None)
        self._lock = threading.Lock()
        self._connection = 0
        self._connected = False
        self._session_present = False
        self._subscribed = threading.Event()
        self._client = mqtt_client(broker, client_id=client_id, protocol=protocol, manual_ack=True, persistent=True)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message
        self._session_expiry = session_expiry

    # -- lifecycle (caller's thread) ---------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects with back-off (1 s doubling to 30 s)."""
        if self.protocol == MQTT_V5:
            self._client.connect_async(
                self.broker.host,
                self.broker.port,
                keepalive=KEEPALIVE_SECONDS,
                clean_start=False,
                properties=_connect_properties(
                    session_expiry=self._session_expiry, receive_maximum=self.receive_maximum
                ),
            )
        else:
            self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session and anything unacknowledged)."""
        with self._lock:
            self._connected = False
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def session_present(self) -> bool:
        return self._session_present

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def ack(self, message: InboundMessage) -> bool:
        """Acknowledge a stored message; False when its connection is gone (the broker will redeliver)."""
        if message.qos == 0:
            return True
        with self._lock:
            if not self._connected or message.connection != self._connection:
                return False
            return self._client.ack(message.mid, message.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- paho's network thread ----------------------------------------------------

    def _handle_connect(self, client, _userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            detail = f"broker {self.broker.describe()} refused the connection: {reason_code}"
            logger.error(detail)
            self._on_state(False, detail)
            return
        with self._lock:
            self._connection += 1
            self._connected = True
            self._session_present = bool(flags.session_present)
        if flags.session_present:
            logger.info("connected to %s, resuming session %s", self.broker.describe(), self.client_id)
        else:
            # A new, expired or lost session has no subscription: it must be made again.
            logger.info("connected to %s without a session; subscribing to %s", self.broker.describe(), self.topic)
        # Subscribing on a resumed session too costs nothing (the same filter replaces itself,
        # queued messages stay) and repairs a session whose earlier subscription was refused
        # or named another topic or group.
        self._subscribed.clear()
        client.subscribe([_subscription(topic, qos=1, protocol=self.protocol) for topic in self.topics])
        self._on_state(True, f"connected to {self.broker.describe()} as {self.client_id}")

    def _handle_subscribe(self, client, _userdata, _mid, reason_codes, _properties):
        refused = {topic: code for topic, code in zip(self.topics, reason_codes, strict=False) if code.is_failure}
        if self.topics[0] in refused:
            failure = refused[self.topics[0]]
            logger.error("broker refused subscription to %s: %s", self.topics[0], failure)
            self._on_state(False, f"subscription to {self.topics[0]} refused: {failure}")
            client.disconnect()  # paho reconnects, and the next session retries the subscription
            return
        for topic, code in refused.items():
            # An account set up before device formats existed: `manage.py mqtt_setup_roles` grants them.
            logger.error("broker refused subscription to %s: %s (run mqtt_setup_roles)", topic, code)
        logger.info("subscribed to %s (QoS %s)", self.topic, reason_codes[0].value if reason_codes else "?")
        self._subscribed.set()

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        with self._lock:
            was_connected = self._connected
            self._connected = False
        if was_connected:
            logger.warning("disconnected from %s: %s; reconnecting", self.broker.describe(), reason_code)
        self._on_state(False, f"disconnected: {reason_code}")

    def _handle_message(self, _client, _userdata, message: paho.MQTTMessage):
        self._on_message(
            InboundMessage(
                _topic_of(message),
                message.payload,
                message.mid,
                message.qos,
                self._connection,
                datetime.now(UTC),
                bool(message.dup),
                bool(message.retain),
            )
        )


class WatchedMessage(NamedTuple):
    """One message on a watched meter's topic."""

    topic: str | bytes  # bytes only when the topic is not valid UTF-8
    payload: bytes
    received_at: datetime
    # A broker's stored copy replayed at subscribe time, not a live reading (see InboundMessage).
    retained: bool = False


class TelemetryWatcher:
    """Best-effort subscriptions to the telemetry of just the meters being watched.

    QoS 0 and a throwaway session: nothing is queued while away, and no retained message is
    replayed at subscribe time (MQTT v5; on 3.1.1 it arrives marked `retained`). `watch` and
    `unwatch` may be called from any thread, before or after `start`. The watched meters are
    subscribed again whenever the connection comes back. `on_message` and `on_state(connected, detail)`
    run on paho's network thread and must return quickly.
    """

    PROBE_TIMEOUT_SECONDS = 2.0

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        on_message: Callable[[WatchedMessage], None],
        on_state: Callable[[bool, str], None] | None = None,
        shared_group: str = "",
        protocol: int | None = None,
    ):
        self.broker = broker
        self.client_id = client_id
        self.shared_group = shared_group
        self.protocol = protocol
        self._on_message = on_message
        self._on_state = on_state or (lambda connected, detail: None)
        self._lock = threading.Lock()
        self._watched: dict[str, tuple[str, ...]] = {}  # meter -> the topics its data comes on
        self._connected = False
        # Confirmations not yet answered: those waiting for a connection, and those waiting
        # for the SUBACK of a SUBSCRIBE (by its packet id, with the filters it carried, in order).
        self._awaiting_connection: list[tuple[str, Future[bool]]] = []
        self._in_flight: dict[int, tuple[list[str], list[tuple[str, Future[bool]]]]] = {}
        self._client: paho.Client | None = None
        self._protocol = MQTT_V5  # the one in use, once started
        self._stopped = False

    # -- any thread -----------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects with back-off after a drop.

        Blocks for a moment to ask the broker which protocol it speaks (unless given):
        MQTT 5 where it can, 3.1.1 with the embedded amqtt broker. Raises MqttConfigError
        when the credentials or TLS files are refused, which waiting cannot fix.
        """
        protocol = self.protocol or broker_probe(self.broker, timeout=self.PROBE_TIMEOUT_SECONDS) or MQTT_V5
        client = mqtt_client(self.broker, client_id=self.client_id, protocol=protocol, persistent=False)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        with self._lock:
            if self._stopped:  # stopped while the probe ran
                return
            self._client = client
            self._protocol = protocol
            if protocol == MQTT_V5:
                client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS, clean_start=True)
            else:
                client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
            client.loop_start()

    def stop(self) -> None:
        """Disconnect for good; confirmations still waiting answer False."""
        with self._lock:
            client, self._client = self._client, None
            self._stopped = True
            self._connected = False
            self._watched.clear()
            waiting = self._awaiting_connection + [each for _, entries in self._in_flight.values() for each in entries]
            self._awaiting_connection, self._in_flight = [], {}
        for _, confirmation in waiting:
            _settle(confirmation, False)
        if client is not None:
            client.disconnect()
            client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    def watched(self) -> set[str]:
        with self._lock:
            return set(self._watched)

    def watch(self, device_id: str, topics: Sequence[str] = ()) -> Future[bool]:
        """Subscribe to a meter's telemetry; the future answers True once the broker confirmed it.

        Connecting is not subscribing: a reading published before the broker has the
        subscription is missed. So the answer waits for the SUBACK of a SUBSCRIBE carrying
        this meter on the current connection: at once when connected, else the one sent as
        the connection comes up. False when the broker refuses the subscription, or when the
        meter is unwatched or the watcher stopped before it was subscribed. Subscribing again to a watched meter
        only renews the subscription. `topics`: the meter's data topics when it is not a native
        meter (devices.identity.meter_topics); the answer is the first one's.
        """
        confirmation: Future[bool] = Future()
        with self._lock:
            if self._stopped:
                confirmation.set_result(False)
                return confirmation
            self._watched[device_id] = tuple(topics) or (telemetry_topic(device_id),)
            topic_filters = self._topic_filters(device_id)
            if not self._subscribe_locked(topic_filters, [(topic_filters[0], confirmation)]):
                self._awaiting_connection.append((topic_filters[0], confirmation))
        return confirmation

    def unwatch(self, device_id: str) -> None:
        """Unsubscribe from a meter's telemetry (without waiting for the broker's answer)."""
        with self._lock:
            if device_id not in self._watched:
                return
            topic_filters = self._topic_filters(device_id)
            del self._watched[device_id]
            dropped = [each for each in self._awaiting_connection if each[0] in topic_filters]
            self._awaiting_connection = [each for each in self._awaiting_connection if each[0] not in topic_filters]
            if self._connected and self._client is not None:
                self._client.unsubscribe(topic_filters)
        for _, confirmation in dropped:
            _settle(confirmation, False)

    def _topic_filters(self, device_id: str) -> list[str]:
        topics = self._watched.get(device_id) or (telemetry_topic(device_id),)
        return [f"$share/{self.shared_group}/{topic}" if self.shared_group else topic for topic in topics]

    def _subscribe_locked(self, topic_filters: list[str], waiting: list[tuple[str, Future[bool]]]) -> bool:
        """Send one SUBSCRIBE and remember who waits for its SUBACK; False when not connected.

        The lock is held across the call so the SUBACK cannot be handled before it is expected.
        """
        if not self._connected or self._client is None:
            return False
        result, mid = self._client.subscribe(
            [_subscription(topic_filter, qos=0, protocol=self._protocol) for topic_filter in topic_filters]
        )
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            return False
        self._in_flight[mid] = (topic_filters, waiting)
        return True

    # -- paho's network thread --------------------------------------------------------

    def _handle_connect(self, _client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            detail = f"broker {self.broker.describe()} refused the connection: {reason_code}"
            logger.warning(detail)
            self._on_state(False, detail)
            return
        with self._lock:
            # paho reconnects without reporting the drop when the socket breaks oddly: then
            # the SUBACKs awaited from the old connection will not come either.
            lost_silently, self._connected = self._connected, True
            for _, waiting in self._in_flight.values():
                self._awaiting_connection.extend(waiting)
            self._in_flight.clear()
            topic_filters = [each for device_id in sorted(self._watched) for each in self._topic_filters(device_id)]
            waiting, self._awaiting_connection = self._awaiting_connection, []
            if topic_filters and not self._subscribe_locked(topic_filters, waiting):
                self._awaiting_connection = waiting  # the connection is already gone: next time
        logger.info("connected to %s; subscribing %d watched meters", self.broker.describe(), len(topic_filters))
        if lost_silently:
            self._on_state(False, "connection lost")
        self._on_state(True, f"connected to {self.broker.describe()} as {self.client_id}")

    def _handle_subscribe(self, _client, _userdata, mid, reason_codes, _properties):
        with self._lock:
            topic_filters, waiting = self._in_flight.pop(mid, ([], []))
        refused = {
            topic_filter: code
            for topic_filter, code in zip(topic_filters, reason_codes, strict=False)
            if code.is_failure
        }
        for topic_filter, code in refused.items():
            logger.warning("broker refused the subscription to %s: %s", topic_filter, code)
        for topic_filter, confirmation in waiting:
            _settle(confirmation, topic_filter not in refused)

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        with self._lock:
            was_connected, self._connected = self._connected, False
            # A SUBACK cannot come any more: the resubscription on reconnect answers instead.
            for _, waiting in self._in_flight.values():
                self._awaiting_connection.extend(waiting)
            self._in_flight.clear()
        if was_connected:
            logger.info("watcher disconnected from %s: %s; reconnecting", self.broker.describe(), reason_code)
        self._on_state(False, f"disconnected: {reason_code}")

    def _handle_message(self, _client, _userdata, message: paho.MQTTMessage):
        self._on_message(WatchedMessage(_topic_of(message), message.payload, datetime.now(UTC), bool(message.retain)))


def _settle(confirmation: Future[bool], answer: bool) -> None:
    try:
        confirmation.set_result(answer)
    except InvalidStateError:
        pass  # already answered, or the caller stopped waiting (cancelled)


class TelemetryPublisher:
    """QoS 1 publishing with a bounded number of unconfirmed messages (memory stays flat)."""

    def __init__(self, broker: BrokerSettings, *, client_id: str, window: int = 1000, protocol: int | None = None):
        self.broker = broker
        self.window = window
        self._protocol = protocol
        self._client_id = client_id
        self._pending: deque[paho.MQTTMessageInfo] = deque()
        self._connected = threading.Event()
        self._client: paho.Client | None = None

    def connect(self, *, timeout: float = 30.0) -> None:
        protocol = self._protocol or broker_probe(self.broker, timeout=min(timeout, 5.0)) or MQTT_V5
        client = mqtt_client(self.broker, client_id=self._client_id, protocol=protocol)
        client.max_inflight_messages_set(min(self.window, 65535))
        client.on_connect = self._handle_connect
        client.on_disconnect = lambda *args: self._connected.clear()
        client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        client.loop_start()
        self._client = client
        if not self._connected.wait(timeout):
            self.close()
            raise ConnectionError(f"no MQTT broker answered at {self.broker.describe()} within {timeout:.0f} s")

    def _handle_connect(self, _client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            logger.error("broker %s refused the publisher: %s", self.broker.describe(), reason_code)
            return
        self._connected.set()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Queue one message; blocks while `window` earlier messages are still unconfirmed.

        While the connection is down paho keeps QoS 1 messages and resends them on reconnect,
        so the window simply stays full until the broker is back.
        """
        assert self._client is not None, "connect() first"
        while len(self._pending) >= self.window:
            if _confirmed(self._pending[0]):
                self._pending.popleft()
            else:
                _wait(self._pending[0], 1.0)
        self._pending.append(self._client.publish(topic, payload, qos=qos))

    def flush(self, *, timeout: float = 60.0) -> bool:
        """Wait until the broker confirmed everything published so far."""
        deadline = time.monotonic() + timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if _confirmed(self._pending[0]):
                self._pending.popleft()
            else:
                _wait(self._pending[0], min(1.0, remaining))
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


def _topic_of(message: paho.MQTTMessage) -> str | bytes:
    """The topic as text, or its raw bytes when they are not UTF-8 (validation reports a bad topic)."""
    try:
        return message.topic
    except UnicodeDecodeError:
        return bytes(message._topic)


def _confirmed(info: paho.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        # Published while disconnected: rc keeps the error although paho resends the message
        # on reconnect and marks it published on PUBACK; only the flag tells.
        return bool(getattr(info, "_published", False))


def _wait(info: paho.MQTTMessageInfo, timeout: float) -> None:
    try:
        info.wait_for_publish(timeout=timeout)
    except (RuntimeError, ValueError):
        time.sleep(min(timeout, 0.05))


class BrokerAdminError(RuntimeError):
    """The dynamic security plugin answered a command with an error, or did not answer in time."""

    def __init__(self, message: str, *, command: str = "", error: str = ""):
        super().__init__(message)
        self.command = command
        self.error = error  # the plugin's own words ("Client already exists"), "" for a timeout


class BrokerAccounts:
    """An admin client of Mosquitto's dynamic security plugin: commands in, answers out, as dicts.

    Each command is published to ``$CONTROL/dynamic-security/v1`` with a fresh correlation id
    and its answer is picked out of ``.../response`` (which every admin client receives) by
    that id. Use as a context manager; one connection serves any number of commands::

        with BrokerAccounts(BrokerSettings.from_url(settings.MQTT_ADMIN_URL)) as accounts:
            accounts.command("createClient", username="meter-001", password="...")
    """

    CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
    RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"

    def __init__(self, broker: BrokerSettings, *, timeout: float = 10.0):
        self.broker = broker
        self.timeout = timeout
        self._client: paho.Client | None = None
        self._ready = threading.Event()
        self._refused = ""
        self._waiting: set[str] = set()  # our correlation ids: other admins' answers arrive here too
        self._answers: dict[str, dict] = {}
        self._answered = threading.Condition()

    def __enter__(self) -> BrokerAccounts:
        self.open()
        return self

    def __exit__(self, *_exc_info) -> None:
        self.close()

    def open(self) -> None:
        """Connect as the admin and subscribe to the answers; BrokerAdminError when refused or silent."""
        client = mqtt_client(self.broker, client_id=f"smartmeter-admin-{uuid.uuid4().hex[:12]}", protocol=MQTT_V5)
        client.on_connect = self._handle_connect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        self._client = client
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS, clean_start=True)
        except (OSError, ssl.SSLError) as exc:
            self._client = None
            raise BrokerAdminError(f"cannot reach the MQTT broker at {self.broker.describe()}: {exc}") from exc
        client.loop_start()
        if not self._ready.wait(self.timeout) or self._refused:
            self.close()
            reason = self._refused or f"no answer within {self.timeout:.0f} s"
            raise BrokerAdminError(f"broker administration at {self.broker.describe()} failed: {reason}")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def command(self, name: str, **arguments: object) -> dict:
        """Run one command; returns its ``data`` ({} for commands that answer none)."""
        return self.commands([{"command": name, **arguments}])[0]

    def commands(self, commands: list[dict]) -> list[dict]:
        """Run commands in order in one message; returns each one's ``data``.

        The plugin runs every command even after one fails (there is no transaction): the
        first error is raised, after all have been answered.
        """
        if self._client is None:
            raise BrokerAdminError("BrokerAccounts is not open")
        ids = [uuid.uuid4().hex for _ in commands]
        payload = {
            "commands": [{**command, "correlationData": id_} for command, id_ in zip(commands, ids, strict=True)]
        }
        with self._answered:
            self._waiting.update(ids)
        try:
            return self._send_and_wait(commands, ids, payload)
        finally:
            with self._answered:
                self._waiting.difference_update(ids)
                for id_ in ids:
                    self._answers.pop(id_, None)

    def _send_and_wait(self, commands: list[dict], ids: list[str], payload: dict) -> list[dict]:
        info = self._client.publish(self.CONTROL_TOPIC, json.dumps(payload), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BrokerAdminError(f"cannot send to {self.broker.describe()}: {paho.error_string(info.rc)}")
        deadline = time.monotonic() + self.timeout
        with self._answered:
            while not all(id_ in self._answers for id_ in ids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = [c["command"] for c, id_ in zip(commands, ids, strict=True) if id_ not in self._answers]
                    raise BrokerAdminError(
                        f"the broker at {self.broker.describe()} did not answer {', '.join(missing)} "
                        f"within {self.timeout:.0f} s (is the dynamic security plugin loaded?)",
                        command=missing[0],
                    )
                self._answered.wait(remaining)
            answers = [self._answers.pop(id_) for id_ in ids]
        for answer in answers:
            if answer.get("error"):
                raise BrokerAdminError(
                    f"{answer.get('command')}: {answer['error']}",
                    command=answer.get("command", ""),
                    error=answer["error"],
                )
        return [answer.get("data") or {} for answer in answers]

    # -- paho's network thread --------------------------------------------------------

    def _handle_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            self._refused = f"the broker refused the admin: {reason_code}"
            self._ready.set()
            return
        client.subscribe(self.RESPONSE_TOPIC, qos=1)

    def _handle_subscribe(self, _client, _userdata, _mid, reason_codes, _properties):
        if any(code.is_failure for code in reason_codes):
            self._refused = f"the admin may not read {self.RESPONSE_TOPIC}: {reason_codes[0]}"
        self._ready.set()

    def _handle_message(self, _client, _userdata, message: paho.MQTTMessage):
        try:
            responses = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            logger.warning("unreadable dynamic security response on %s", message.topic)
            return
        with self._answered:
            for response in responses:
                id_ = response.get("correlationData") if isinstance(response, dict) else None
                if id_ in self._waiting:
                    self._answers[id_] = response
            self._answered.notify_all()
