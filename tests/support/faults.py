"""The fault-injection lab for ingestion: a private PostgreSQL server (initdb + pg_ctl into a
temporary directory, on a free port; the machine's shared server is never touched), a Mosquitto
from deploy/mosquitto.conf with persistence, `manage.py mqtt_consumer` subprocesses, and the
scenarios run against them. tests/ops/test_faults.py runs two scenarios small; bench/faults.py
runs them all at full size (figures in docs/reliability.md).

Importing this module needs Django's settings configured (pytest-django, or bench/faults.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices.identity import telemetry_topic
from devtools.broker import mosquitto_binary, mosquitto_config_write
from readings.ingestion.mqtt import BrokerSettings, TelemetryPublisher
from tests.support.mosquitto import mosquitto_start, mosquitto_stop
from tests.support.network import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
METERS = [f"fault-meter-{number:03d}" for number in range(1, 21)]
SEED_DEVICES = f"""
from accounts.models import User
from devices.models import Device
owner, _ = User.objects.get_or_create(email="faults@example.com", defaults={{"name": "Fault owner"}})
for device_id in {METERS!r}:
    Device.objects.get_or_create(device_id=device_id, defaults={{"owner": owner, "location": "Bengaluru"}})
"""


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"PostgreSQL's {name} is not installed (looked in /usr/lib/postgresql/*/bin)")


def postgres_available() -> bool:
    try:
        _pg_bin("initdb")
        _pg_bin("pg_ctl")
    except FileNotFoundError:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL server in a temporary directory, on a free port.

    Stopping it is a real outage (connections refused, sessions gone), and it concerns
    nobody else. initdb refuses to run as root, so as root it runs as `postgres`."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/smartmeter"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> PrivatePostgres:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self.directory.chmod(0o755)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.directory}'\n"
                "fsync = on\nsynchronous_commit = on\nmax_connections = 50\n"
            )
        self.start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "smartmeter")
        return self

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def scalar(self, sql: str) -> int:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/smartmeter", connect_timeout=5) as db:
            return db.execute(sql).fetchone()[0]


@dataclass
class Broker:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed")
        config = mosquitto_config_write(port=self.port, directory=self.directory)
        self.process = mosquitto_start(binary, config, directory=self.directory, host="127.0.0.1", port=self.port)
        return self

    def stop(self) -> None:
        mosquitto_stop(self.process, wait=15)
        self.process = None


class Consumer:
    def __init__(self, *, env: dict, log: Path, client_id: str = "fault-consumer", args=()):
        self.env = {**env, "MQTT_CLIENT_ID": client_id}
        self.log_path = log
        self.args = list(args)
        self.process: subprocess.Popen | None = None

    def start(self) -> Consumer:
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "mqtt_consumer", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_subscribed(self, timeout: float = 30) -> None:
        def subscribed():
            if self.process.poll() is not None:
                raise RuntimeError("consumer exited:\n" + self.log()[-3000:])
            return "subscribed to" in self.log() or "resuming session" in self.log()

        wait_until(subscribed, timeout=timeout, message="the consumer to subscribe")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


def telemetry_stream(count: int, *, start: datetime | None = None, offset: int = 0):
    """`count` distinct valid readings over METERS, one second apart per meter."""
    start = start or datetime.now(UTC) - timedelta(hours=20)
    for index in range(offset, offset + count):
        device_id = METERS[index % len(METERS)]
        when = start + timedelta(seconds=index // len(METERS))
        payload = {
            "timestamp": when.isoformat(timespec="milliseconds"),
            "voltage": 230.0 + (index % 7),
            "current": 2.5,
            "power_w": 540.0,
            "energy_kwh": round(100 + index * 0.001, 4),
            "power_factor": 0.95,
            "rssi": -60,
        }
        yield telemetry_topic(device_id), json.dumps(payload).encode()


def publish(url: str, messages, *, rate: float | None = None) -> int:
    """Publish with QoS 1 (every message confirmed by the broker); optionally paced to `rate`/s."""
    publisher = TelemetryPublisher(BrokerSettings.from_url(url), client_id=f"fault-pub-{time.monotonic_ns()}")
    publisher.connect(timeout=10)
    count = 0
    started = time.monotonic()
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
            count += 1
            if rate and count % 50 == 0:
                ahead = count / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        if not publisher.flush(timeout=120):
            raise RuntimeError("the broker did not confirm every message")
    finally:
        publisher.close()
    return count


@dataclass
class Outcome:
    scenario: str
    published: int
    stored: int
    duplicates: int
    recovery_seconds: float
    notes: dict

    @property
    def ok(self) -> bool:
        fine = self.published == self.stored and self.duplicates == 0
        if self.scenario == "hostile":
            fine = fine and self.notes["consumer_alive"] and self.notes["without_reason"] == 0
        return fine

    def line(self) -> str:
        extra = " ".join(f"{key}={value}" for key, value in self.notes.items())
        verdict = "OK" if self.ok else "LOST OR DUPLICATED"
        return (
            f"{self.scenario:15s} published={self.published} stored={self.stored} duplicates={self.duplicates} "
            f"recovery={self.recovery_seconds:.1f}s {extra} -> {verdict}"
        )


class Lab:
    """One private PostgreSQL + broker + consumers, torn down on exit."""

    def __init__(self, *, keep: bool = False):
        self.root = Path(tempfile.mkdtemp(prefix="smartmeter-faults-"))
        self.root.chmod(0o755)
        self.keep = keep
        self.postgres = PrivatePostgres(self.root / "postgres")
        self.broker = Broker(self.root / "broker")
        self.consumers: list[Consumer] = []

    def __enter__(self) -> Lab:
        self.postgres.init()
        env = self.env()
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([PYTHON, "manage.py", "shell", "-c", SEED_DEVICES], cwd=ROOT, env=env, check=True)
        self.broker.start()
        return self

    def __exit__(self, *exc) -> None:
        for consumer in self.consumers:
            consumer.stop()
        self.broker.stop()
        self.postgres.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def env(self, **overrides) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MQTT_", "INGEST_", "DATABASE_URL", "MONGODB_URI", "PROMETHEUS_MULTIPROC_DIR"))
        }
        env.update(
            {
                "DATABASE_URL": self.postgres.url,
                "MQTT_URL": self.broker.url,
                "PROMETHEUS_MULTIPROC_DIR": str(self.root / "metrics"),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "smartmeter.settings",
                "LOG_FORMAT": "plain",
            }
        )
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    def consumer(self, **kwargs) -> Consumer:
        consumer = Consumer(env=self.env(), log=self.root / f"consumer-{len(self.consumers)}.log", **kwargs)
        self.consumers.append(consumer)
        return consumer

    def stored(self) -> int:
        return self.postgres.scalar("SELECT COUNT(*) FROM readings_reading")

    def duplicates(self) -> int:
        return self.postgres.scalar("SELECT COUNT(*) - COUNT(DISTINCT (device_id, timestamp)) FROM readings_reading")

    def reset_readings(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.postgres.port}/smartmeter") as db:
            db.execute("TRUNCATE readings_reading")


# --- scenarios ------------------------------------------------------------------------


def scenario_sigkill(lab: Lab, *, messages: int, rate: float) -> Outcome:
    consumer = lab.consumer(args=["--batch-size", "500"]).start()
    consumer.wait_subscribed()
    stream = threading.Thread(target=publish, args=(lab.broker.url, telemetry_stream(messages)), kwargs={"rate": rate})
    stream.start()
    wait_until(lambda: lab.stored() >= messages // 3, timeout=120, interval=0.02, message="a third of the stream")
    consumer.kill()
    stored_at_kill = lab.stored()
    killed_at = time.monotonic()
    stream.join()
    lab.consumer(args=["--batch-size", "500"]).start().wait_subscribed()
    wait_until(lambda: lab.stored() >= messages, timeout=300, interval=0.2, message="every message")
    recovery = time.monotonic() - killed_at
    time.sleep(2)  # anything redelivered late would show up as an extra row attempt
    return Outcome("sigkill", messages, lab.stored(), lab.duplicates(), recovery, {"stored_at_kill": stored_at_kill})


def scenario_db_outage(lab: Lab, *, messages: int, rate: float, outage_seconds: float) -> Outcome:
    consumer = lab.consumer().start()
    consumer.wait_subscribed()
    stream = threading.Thread(target=publish, args=(lab.broker.url, telemetry_stream(messages)), kwargs={"rate": rate})
    stream.start()
    wait_until(lambda: lab.stored() >= messages // 4, timeout=120, interval=0.05, message="the stream to flow")
    stored_at_stop = lab.stored()
    lab.postgres.stop()
    time.sleep(outage_seconds)
    lab.postgres.start()
    restarted = time.monotonic()
    stream.join()
    wait_until(lambda: lab.stored() >= messages, timeout=300, interval=0.2, message="every message after the outage")
    recovery = time.monotonic() - restarted
    alive = consumer.process.poll() is None
    return Outcome(
        "db-outage",
        messages,
        lab.stored(),
        lab.duplicates(),
        recovery,
        {"outage_s": outage_seconds, "stored_at_stop": stored_at_stop, "same_consumer_process": alive},
    )


def scenario_broker_restart(lab: Lab, *, messages: int) -> Outcome:
    consumer = lab.consumer().start()
    consumer.wait_subscribed()
    consumer.stop()  # session stays on the broker; messages queue for it
    published = publish(lab.broker.url, telemetry_stream(messages))
    lab.broker.stop()
    lab.broker.start()
    restarted = time.monotonic()
    lab.consumer().start().wait_subscribed()
    wait_until(
        lambda: lab.stored() >= published, timeout=300, interval=0.2, message="messages queued before the restart"
    )
    return Outcome(
        "broker-restart", published, lab.stored(), lab.duplicates(), time.monotonic() - restarted, {"queued": published}
    )


def scenario_offline(lab: Lab, *, messages: int) -> Outcome:
    consumer = lab.consumer().start()
    consumer.wait_subscribed()
    consumer.stop()
    started = time.monotonic()
    published = publish(lab.broker.url, telemetry_stream(messages))
    publish_seconds = time.monotonic() - started
    resumed = time.monotonic()
    lab.consumer().start().wait_subscribed()
    wait_until(lambda: lab.stored() >= published, timeout=600, interval=0.5, message=f"the {published} queued messages")
    drain = time.monotonic() - resumed
    return Outcome(
        "offline",
        published,
        lab.stored(),
        lab.duplicates(),
        drain,
        {"publish_s": round(publish_seconds, 1), "drain_rate_msg_s": round(published / drain)},
    )


# --- hostile telemetry ----------------------------------------------------------------

GOOD_FIELDS = {
    "voltage": 230.0,
    "current": 2.5,
    "power_w": 540.0,
    "energy_kwh": 100.0,
    "power_factor": 0.95,
    "rssi": -60,
}


def hostile_message_strategy():
    """Topics and payloads a broken or malicious meter could send: malformed JSON, huge
    numbers, NaN/Infinity, deep nesting, wrong types, unicode, binary, oversize, unknown or
    mismatched devices, and near-valid readings with one field broken."""
    from hypothesis import strategies as st

    topic_device = st.one_of(
        st.sampled_from(METERS),
        st.sampled_from(METERS),
        st.sampled_from(METERS),
        st.sampled_from(["unknown-meter", "decommissioned?", "meter-001 ", "ÄÖÜ-メーター"]),
        st.text(
            alphabet=st.characters(
                blacklist_characters="/+#",
                # Control characters, surrogates and noncharacters make the broker drop the
                # publisher's connection: a meter sending them never gets a message through.
                blacklist_categories=("Cc", "Cs", "Cn"),
            ),
            min_size=1,
            max_size=40,
        ),
    )
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.sampled_from([1e308, -1e308, 1e-320, 10**400, "NaN", "Infinity", "", "230", "０.５"]),
    )
    json_value = st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    field_name = st.sampled_from([*GOOD_FIELDS, "timestamp", "device_id", "power", "energy", "pf"])

    def near_valid(field, value, drop, device):
        payload = {**GOOD_FIELDS, field: value}
        payload.pop(drop, None)
        if field == "device_id" and value is None:
            payload["device_id"] = device
        return json.dumps(payload, allow_nan=True, default=str).encode()

    numbers = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([1e308, -1e308, 10**400, -1, 0, 1e6, 99999, "NaN", "Infinity", "-Infinity"]),
    )
    timestamps = st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda when: when.isoformat()),
        st.integers(min_value=-(10**12), max_value=10**12),
        st.text(max_size=30),
    )
    payloads = st.one_of(
        st.builds(near_valid, field_name, json_value, st.sampled_from([None, *GOOD_FIELDS]), topic_device),
        st.builds(near_valid, st.sampled_from(list(GOOD_FIELDS)), numbers, st.just(None), topic_device),
        st.builds(near_valid, st.just("timestamp"), timestamps, st.just(None), topic_device),
        st.builds(near_valid, st.just("device_id"), topic_device, st.just(None), topic_device),
        json_value.map(lambda value: json.dumps(value, allow_nan=True, default=str).encode()),
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.integers(min_value=50, max_value=20000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(min_value=50, max_value=3000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
        st.integers(min_value=4097, max_value=60000).map(
            lambda size: json.dumps({**GOOD_FIELDS, "pad": "x" * size}).encode()
        ),
        st.just(b""),
        st.just(b"null"),
        st.just(b'{"voltage": 230, "voltage": "dup"}'),
    )
    return st.tuples(topic_device.map(telemetry_topic), payloads)


def hostile_messages(count: int) -> list[tuple[str, bytes]]:
    """`count` (or, if hypothesis runs out of distinct ideas, fewer) generated messages; derandomized."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    collected: list[tuple[str, bytes]] = []

    @given(message=hostile_message_strategy())
    @hypothesis_settings(
        max_examples=count, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    def collect(message):
        topic, payload = message
        if topic.encode("utf-8", "surrogatepass") and len(topic.encode("utf-8", "ignore")) < 65000:
            collected.append((topic, payload))

    collect()
    return collected


def consumer_counters(metrics_dir: Path) -> dict:
    """accepted / duplicate / rejected-by-reason, summed over the consumer processes' metric files."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    counters = {"accepted": 0.0, "duplicate": 0.0, "rejected": {}}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "smartmeter_readings_accepted_total":
                counters["accepted"] += sample.value
            elif sample.name == "smartmeter_readings_duplicate_total":
                counters["duplicate"] += sample.value
            elif sample.name == "smartmeter_readings_rejected_total":
                reason = sample.labels["reason"]
                counters["rejected"][reason] = counters["rejected"].get(reason, 0) + sample.value
    return counters


def scenario_hostile(lab: Lab, *, messages: int) -> Outcome:
    generated = hostile_messages(messages)
    valid = list(telemetry_stream(200))  # a clean stream interleaved: still stored exactly
    consumer = lab.consumer().start()
    consumer.wait_subscribed()
    mixed = list(generated)
    for index, message in enumerate(valid):  # spread the clean readings through the hostile ones
        mixed.insert(min(len(mixed), index * (len(generated) // len(valid) + 1)), message)
    published = publish(lab.broker.url, mixed)

    def accounted():
        counters = consumer_counters(lab.root / "metrics")
        return counters["accepted"] + counters["duplicate"] + sum(counters["rejected"].values()) >= published

    wait_until(accounted, timeout=300, interval=0.5, message="every hostile message to be stored or rejected")
    counters = consumer_counters(lab.root / "metrics")
    alive = consumer.process.poll() is None
    dead_letters = lab.postgres.scalar("SELECT COUNT(*) FROM readings_deadletter")
    rows = lab.stored()
    reasonless = lab.postgres.scalar("SELECT COUNT(*) FROM readings_deadletter WHERE reason = ''")
    accounted_for = counters["accepted"] + counters["duplicate"] + sum(counters["rejected"].values())
    return Outcome(
        "hostile",
        published,
        int(accounted_for),
        lab.duplicates(),
        0.0,
        {
            "consumer_alive": alive,
            "stored": int(counters["accepted"]),
            "reading_rows": rows,
            "clean_readings_sent": len(valid),
            "duplicates_ignored": int(counters["duplicate"]),
            "rejected": int(sum(counters["rejected"].values())),
            "dead_letter_rows": dead_letters,
            "without_reason": reasonless,
            "reasons": {reason: int(n) for reason, n in sorted(counters["rejected"].items())},
        },
    )
