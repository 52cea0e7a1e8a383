"""MQTT_URL parsing, the shipped Mosquitto config, and `manage.py run_broker` as `make run` uses it."""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from devtools.broker import DEPLOY_CONFIG, amqtt_config, mosquitto_config_render
from readings.ingestion.mqtt import MQTT_V5, MQTT_V311, BrokerSettings, MqttConfigError, broker_probe
from tests.readings.ingest_helpers import BASE_DIR, PYTHON, process_env, require_mosquitto
from tests.support.network import free_port, wait_until


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerSettings("127.0.0.1", 1883)),
        ("mqtt://broker.example", BrokerSettings("broker.example", 1883)),
        ("mqtts://broker.example", BrokerSettings("broker.example", 8883, tls=True)),
        (
            "mqtts://meter%40ops:p%3Ass@broker.example:9883",
            BrokerSettings("broker.example", 9883, tls=True, username="meter@ops", password="p:ss"),
        ),
        ("mqtt://user@[::1]:1884", BrokerSettings("::1", 1884, username="user")),
    ],
)
def test_mqtt_url_carries_host_port_tls_and_credentials(url, expected):
    assert BrokerSettings.from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://broker:1883", "mqtt:// or mqtts://"),
        ("mqtt://:1883", "no host"),
        ("mqtt://broker:99999", "invalid port"),
        ("127.0.0.1:1883", "mqtt:// or mqtts://"),
    ],
)
def test_unusable_mqtt_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(MqttConfigError, match=message):
        BrokerSettings.from_url(url)


def test_tls_files_come_from_settings(settings):
    settings.MQTT_URL = "mqtts://broker.example"
    settings.MQTT_CA_FILE = "/etc/ssl/ca.pem"
    settings.MQTT_CLIENT_CERT = "/etc/ssl/client.pem"
    settings.MQTT_CLIENT_KEY = "/etc/ssl/client.key"
    broker = BrokerSettings.from_settings()
    assert (broker.ca_file, broker.client_cert, broker.client_key) == (
        "/etc/ssl/ca.pem",
        "/etc/ssl/client.pem",
        "/etc/ssl/client.key",
    )
    assert broker.describe() == "mqtts://broker.example:8883"


def test_the_password_never_appears_in_the_description():
    assert BrokerSettings.from_url("mqtt://ops:hunter2@broker:1883").describe() == "mqtt://ops@broker:1883"


def test_the_shipped_config_keeps_queued_telemetry_safe():
    config = DEPLOY_CONFIG.read_text()
    settings_lines = dict(
        line.split(None, 1) for line in config.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    assert settings_lines["persistence"] == "true"
    assert int(settings_lines["autosave_interval"]) <= 60
    assert int(settings_lines["max_queued_messages"]) >= 1_000_000
    assert int(settings_lines["max_inflight_messages"]) >= 1000


def test_the_local_config_moves_the_listener_and_keeps_everything_else(tmp_path):
    rendered = mosquitto_config_render(port=18830, data_dir=tmp_path, extra="password_file /tmp/x")
    assert "listener 18830 127.0.0.1" in rendered
    assert "listener 1883 " not in rendered
    assert f"persistence_location {tmp_path.resolve()}/" in rendered
    assert "max_queued_messages 1000000" in rendered
    assert rendered.rstrip().endswith("password_file /tmp/x")


@pytest.mark.broker
def test_probe_reports_mqtt_5_for_mosquitto_and_none_when_nothing_listens(mosquitto):
    assert broker_probe(BrokerSettings.from_url(f"mqtt://{mosquitto[0]}:{mosquitto[1]}")) == MQTT_V5
    assert broker_probe(BrokerSettings.from_url(f"mqtt://127.0.0.1:{free_port()}"), timeout=1) is None


def run_broker(tmp_path: Path, port: int, *args: str) -> subprocess.Popen:
    env = process_env(
        database=tmp_path / "unused.sqlite3", metrics_dir=tmp_path / "metrics", MQTT_URL=f"mqtt://127.0.0.1:{port}"
    )
    log = (tmp_path / "run_broker.log").open("ab")
    return subprocess.Popen(
        [PYTHON, "manage.py", "run_broker", "--directory", str(tmp_path / "broker"), *args],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


@pytest.mark.broker
def test_run_broker_waits_quietly_when_a_broker_already_answers(tmp_path, mosquitto):
    process = run_broker(tmp_path, mosquitto[1])
    try:
        wait_until(
            lambda: "already answers" in (tmp_path / "run_broker.log").read_text(), timeout=20, message="the notice"
        )
        time.sleep(0.5)
        assert process.poll() is None  # still running, so the process manager keeps the others up
    finally:
        assert stop(process) == 0


@pytest.mark.broker
def test_run_broker_starts_mosquitto_with_the_shipped_config_when_none_answers(tmp_path):
    require_mosquitto()
    port = free_port()
    process = run_broker(tmp_path, port)
    try:
        wait_until(
            lambda: broker_probe(BrokerSettings.from_url(f"mqtt://127.0.0.1:{port}"), timeout=1) == MQTT_V5,
            timeout=20,
            message="mosquitto to answer",
        )
        config = (tmp_path / "broker" / "mosquitto.conf").read_text()
        assert f"listener {port} 127.0.0.1" in config
        assert "max_queued_messages 1000000" in config
    finally:
        assert stop(process) == 0
    assert (tmp_path / "broker" / "data" / "smartmeter.db").exists()  # persistence saved on shutdown


@pytest.mark.broker
def test_run_broker_falls_back_to_amqtt(tmp_path):
    port = free_port()
    process = run_broker(tmp_path, port, "--engine", "amqtt")
    try:
        wait_until(
            lambda: broker_probe(BrokerSettings.from_url(f"mqtt://127.0.0.1:{port}"), timeout=2) == MQTT_V311,
            timeout=30,
            message="amqtt to answer",
        )
    finally:
        stop(process)


def test_amqtt_listens_where_mqtt_url_says():
    assert amqtt_config(host="127.0.0.1", port=18831)["listeners"]["default"]["bind"] == "127.0.0.1:18831"
    assert amqtt_config(host="::1", port=18831)["listeners"]["default"]["bind"] == "[::1]:18831"
