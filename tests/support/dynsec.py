"""A Mosquitto run the way deploy/docker-compose.yml runs it (the shipped config, its open-broker
line deleted, deploy/mosquitto-dynsec.conf appended), on a free port with its own plugin file,
and small MQTT clients that report what the broker answered."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from devtools.broker import mosquitto_binary
from tests.support.mosquitto import mosquitto_start, mosquitto_stop
from tests.support.network import free_port
from tests.support.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
ADMIN, ADMIN_PASSWORD = "smartmeter-admin", "admin-pass-for-tests"
ANSWER_SECONDS = 15


def compose_broker_config() -> str:
    """The broker config the compose file's mosquitto command writes, with its container paths."""
    script = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["mosquitto"]["command"][2]
    script = script.replace("$$", "$")
    sed = next(part for part in script.split("&&") if part.strip().startswith("sed "))
    words = shlex.split(sed)
    text = (DEPLOY / "mosquitto.conf").read_text()
    for flag, expression in zip(words, words[1:], strict=False):
        if flag != "-e":
            continue
        if substitution := re.fullmatch(r"s/(.*?)/(.*?)/", expression):
            text = re.sub(substitution.group(1), substitution.group(2), text, flags=re.MULTILINE)
        elif deletion := re.fullmatch(r"/(.*?)/d", expression):
            text = re.sub(deletion.group(1) + r"\n?", "", text, flags=re.MULTILINE)
        else:
            raise AssertionError(f"unknown sed expression {expression!r}")
    assert "cat /smartmeter/mosquitto-dynsec.conf >> /mosquitto/config/mosquitto.conf" in script
    text += (DEPLOY / "mosquitto-dynsec.conf").read_text()
    persistence = re.search(r"echo '(persistence_location [^']+)'", script)
    assert persistence, script
    return text + persistence.group(1) + "\n"


@dataclass
class DynsecBroker:
    """The production broker config on this machine: plugin and files moved to a scratch directory."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return f"mqtt://{ADMIN}:{ADMIN_PASSWORD}@127.0.0.1:{self.port}"

    def url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"

    def start(self) -> DynsecBroker:
        binary = mosquitto_binary()
        if binary is None or shutil.which("mosquitto_ctrl") is None or not PLUGIN.exists():
            service_missing("mosquitto, mosquitto_ctrl and the dynamic security plugin are needed")
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        security = data / "dynamic-security.json"
        subprocess.run(
            ["mosquitto_ctrl", "dynsec", "init", str(security), ADMIN, ADMIN_PASSWORD], check=True, capture_output=True
        )
        config = compose_broker_config()
        config = config.replace("\nlistener 1883\n", f"\nlistener {self.port} 127.0.0.1\n")
        config = config.replace("/usr/lib/mosquitto_dynamic_security.so", str(PLUGIN))
        config = config.replace("/mosquitto/data/", f"{data}/")
        assert f"listener {self.port} 127.0.0.1" in config, config
        assert str(security) in config, config
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            config += "user root\n"  # as root, Mosquitto would switch to a user that cannot read tmp
        path = self.directory / "mosquitto.conf"
        path.write_text(config)
        self.process = mosquitto_start(binary, path, directory=self.directory, host="127.0.0.1", port=self.port)
        return self

    def stop(self) -> None:
        mosquitto_stop(self.process)


class Client:
    """A paho client for one login: whether the broker let it in, and what it received."""

    def __init__(self, port: int, username: str | None, password: str | None):
        self.received: list[tuple[str, bytes]] = []
        self.refused = None
        self.suback: list = []
        self.disconnected = threading.Event()
        self._answered = threading.Event()
        self._subscribed = threading.Event()
        self._paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5
        )
        if username is not None:
            self._paho.username_pw_set(username, password)
        self._paho.on_connect = self._on_connect
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_message = lambda _c, _u, message: self.received.append((message.topic, message.payload))
        self._paho.on_disconnect = lambda *_args: self.disconnected.set()
        self._paho.reconnect_delay_set(60, 60)  # one attempt per test: a refusal stays a refusal
        self._paho.connect("127.0.0.1", port)
        self._paho.loop_start()
        assert self._answered.wait(ANSWER_SECONDS), "the broker did not answer CONNECT"

    @property
    def connected(self) -> bool:
        return self.refused is None

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        self.refused = str(reason_code) if reason_code.is_failure else None
        self._answered.set()

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties):
        self.suback = [str(code) for code in reason_codes]
        self._subscribed.set()

    def subscribe(self, topic: str) -> list[str]:
        self._subscribed.clear()
        self._paho.subscribe(topic, qos=1)
        assert self._subscribed.wait(ANSWER_SECONDS)
        return self.suback

    def publish(self, topic: str, payload: bytes = b'{"voltage": 230}') -> None:
        self._paho.publish(topic, payload, qos=1).wait_for_publish(ANSWER_SECONDS)

    def close(self) -> None:
        self._paho.disconnect()
        self._paho.loop_stop()
