"""Ingestion benchmark: MQTT -> stored readings, end to end, for one consumer process.

    .venv/bin/python bench/ingest.py [--messages 50000] [--naive-messages 5000] [--meters 100]
                                     [--backends sqlite,postgres] [--postgres-url postgres://postgres@127.0.0.1:5432/postgres]
    .venv/bin/python bench/ingest.py --memory 1000000      # peak RSS of the consumer while it ingests 1M messages
    .venv/bin/python bench/ingest.py --format all          # each payload format's throughput next to native's
    .venv/bin/python bench/ingest.py --format tasmota --format shelly-gen2 --backends postgres --rounds 1

Everything runs against a Mosquitto of its own (deploy/mosquitto.conf on a free port,
persistence in a temporary directory) and a fresh database per backend (a temporary
SQLite file; a new PostgreSQL database next to --postgres-url, dropped at the end).

Throughput mode, per backend, three subscribers drain the same kind of backlog: the
messages are published while the subscriber is away (they queue in its persistent
session), then it connects and the clock runs from its first processed message to its
last. Publisher speed therefore never limits the figure.

- bare:     a paho subscriber (readings.ingestion.mqtt.TelemetrySubscriber) that only receives and
            acknowledges each message: the ceiling for any consumer on this client stack.
- consumer: `manage.py mqtt_consumer`, as deployed (validation, batches, store, dead
            letters, meter status, ack after the write).
- naive:    the same validation and store, written the obvious way: in on_message, per
            message, look the meter up, write the one reading, update the meter's
            last_seen/status, then ack.

For the two consumers "processed" means stored: the harness polls the readings count
(rate = readings stored after the first poll that saw any / time since then).

Memory mode publishes N messages to a running consumer (SQLite store) and samples the
consumer's RSS every second.

Format mode (--format) runs `mqtt_consumer` alone over a backlog of --messages readings in each
chosen payload format and in the native one, interleaved per round, on meters provisioned in
that format (devtools.meter_formats encodes them as the devices do; Shelly readings are two
messages, em:0 and emdata:0, as timestamped NotifyStatus). It reports readings stored per
second, messages per second, and each format's rate as a share of native's in the same run.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.identity import (  # noqa: E402
    NATIVE,
    PAYLOAD_FORMATS,
    SHELLY_GEN2,
    TELEMETRY_TOPIC_FILTER,
    ingest_topic_filters,
    telemetry_topic,
)
from tests.support.network import free_port  # noqa: E402

PYTHON = sys.executable
TOPIC = TELEMETRY_TOPIC_FILTER
BENCH_SECRET_KEY = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex


def setup_django(metrics_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    import django

    django.setup()


# --- helpers -------------------------------------------------------------------------------


def child_env(database_url: str, metrics_dir: Path, **extra) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MQTT_", "INGEST_", "DATABASE_URL", "MONGODB_URI"))
    }
    env.update(
        DATABASE_URL=database_url,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        DJANGO_SETTINGS_MODULE="smartmeter.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        # Production settings: DEBUG=True would also record every SQL statement.
        DEBUG="False",
        SECRET_KEY=BENCH_SECRET_KEY,
        ALLOWED_HOSTS="localhost",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def format_meter_id(payload_format: str, index: int) -> str:
    """Native meters keep their historical ids (bench-0000); each other format has its own set."""
    if payload_format == NATIVE:
        return f"bench-{index:04d}"
    return f"bench-{payload_format}-{index:04d}"


def seed_meters(env: dict, meters: int, formats: tuple[str, ...] = ()) -> None:
    code = (
        "from accounts.models import User\n"
        "from devices.models import Device\n"
        "owner = User.objects.create_user(email='bench@example.com', password='bench-password-1', name='Bench')\n"
        f"Device.objects.bulk_create([Device(device_id=f'bench-{{i:04d}}', owner=owner) for i in range({meters})])\n"
    )
    for payload_format in formats:
        if payload_format == NATIVE:
            continue
        ids = [format_meter_id(payload_format, index) for index in range(meters)]
        code += (
            f"Device.objects.bulk_create([Device(device_id=d, owner=owner, payload_format={payload_format!r}) "
            f"for d in {ids!r}])\n"
        )
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-c", code)


class Database:
    """A fresh database for one backend, and a cheap way to count readings from outside."""

    def __init__(self, backend: str, workdir: Path, postgres_url: str):
        self.backend = backend
        self.postgres_url = postgres_url
        if backend == "sqlite":
            self.path = workdir / f"bench-{uuid.uuid4().hex[:6]}.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            import psycopg

            self.name = f"smartmeter_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(self._admin_url(), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.name}"')
            self.url = postgres_url.rsplit("/", 1)[0] + f"/{self.name}"

    def _admin_url(self) -> str:
        return self.postgres_url.replace("postgres://", "postgresql://", 1)

    def count(self) -> int:
        """Readings stored so far: the highest row id (the benchmark never repeats or deletes a
        reading, so it equals the row count, and reading it costs an index lookup, not a scan)."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as connection:
                return connection.execute("SELECT COALESCE(MAX(id), 0) FROM readings_reading").fetchone()[0]
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1)) as connection:
            return connection.execute("SELECT COALESCE(MAX(id), 0) FROM readings_reading").fetchone()[0]

    def exact_count(self) -> int:
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as connection:
                return connection.execute("SELECT COUNT(*) FROM readings_reading").fetchone()[0]
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1)) as connection:
            return connection.execute("SELECT COUNT(*) FROM readings_reading").fetchone()[0]

    def drop(self) -> None:
        if self.backend == "postgres":
            import psycopg

            with psycopg.connect(self._admin_url(), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def start_broker(workdir: Path):
    from devtools.broker import mosquitto_binary, mosquitto_config_write

    binary = mosquitto_binary()
    if binary is None:
        sys.exit("mosquitto is not installed")
    port = free_port()
    config = mosquitto_config_write(port=port, directory=workdir / "broker")
    log = (workdir / "mosquitto.log").open("ab")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"mqtt://127.0.0.1:{port}"
    from readings.ingestion.mqtt import BrokerSettings, broker_probe

    deadline = time.monotonic() + 10
    while broker_probe(BrokerSettings.from_url(url), timeout=1) is None:
        if time.monotonic() > deadline:
            process.kill()
            sys.exit("mosquitto did not start")
        time.sleep(0.1)
    return process, url


def payloads(count: int, meters: int, *, offset_days: float = 20.0):
    """`count` distinct valid telemetry messages, round-robin over the meters, one second apart per meter."""
    start = datetime.now(UTC) - timedelta(days=offset_days)
    for index in range(count):
        meter = index % meters
        when = start + timedelta(seconds=index // meters)
        body = (
            f'{{"timestamp":"{when.isoformat(timespec="milliseconds")}","voltage":{229 + (index % 7) * 0.5},'
            f'"current":{1 + (index % 13) * 0.25},"power_w":{200 + index % 1700},'
            f'"energy_kwh":{1000 + index * 0.001:.3f},"power_factor":0.95,"rssi":-{50 + index % 30}}}'
        )
        yield telemetry_topic(f"bench-{meter:04d}"), body.encode()


def format_payloads(payload_format: str, count: int, meters: int, *, offset_days: float):
    """`count` distinct readings as a device of `payload_format` publishes them (one or more messages
    each), round-robin over that format's meters, one second apart per meter; the timestamped form
    throughout, since a backlog's receive times would collide."""
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.utils import timezone

    from devices.topics import topic_prefixes
    from devtools.meter_formats import EncodeOptions, MeterSample, meter_messages

    options = EncodeOptions(
        prefixes=topic_prefixes(),
        tasmota_zone=ZoneInfo(settings.TASMOTA_TIME_ZONE),
        dsmr_zone=timezone.get_default_timezone(),
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=offset_days)
    for index in range(count):
        energy_kwh = 1000 + index * 0.001
        sample = MeterSample(
            device_id=format_meter_id(payload_format, index % meters),
            at=start + timedelta(seconds=index // meters),
            power_w=200 + index % 1700,
            energy_kwh=energy_kwh,
            voltage=229 + (index % 7) * 0.5,
            power_factor=0.95,
            rssi=-(50 + index % 30),
            night_kwh=energy_kwh * 0.35,
        )
        yield from meter_messages(sample, payload_format, options, backfill=True)


def messages_per_reading(payload_format: str) -> int:
    return 2 if payload_format == SHELLY_GEN2 else 1  # Shelly: power (em:0) and energy (emdata:0)


def receive_maximum() -> int:
    from django.conf import settings

    return settings.MQTT_RECEIVE_MAXIMUM  # the consumer's window, for the bare subscriber too


def create_session(url: str, client_id: str, topics: tuple[str, ...] = (TOPIC,)) -> None:
    """Make the broker hold a persistent session (subscribed to `topics`) for client_id, then leave."""
    from readings.ingestion.mqtt import BrokerSettings, TelemetrySubscriber

    subscriber = TelemetrySubscriber(
        BrokerSettings.from_url(url),
        client_id=client_id,
        topic=topics,
        on_message=lambda message: None,
        session_expiry=3600,
        receive_maximum=receive_maximum(),
    )
    subscriber.start()
    if not subscriber.wait_subscribed(10):
        sys.exit(f"could not subscribe to {', '.join(topics)}")
    subscriber.stop()


def publish(url: str, messages) -> tuple[int, float]:
    from readings.ingestion.mqtt import BrokerSettings, TelemetryPublisher

    publisher = TelemetryPublisher(BrokerSettings.from_url(url), client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    publisher.connect(timeout=10)
    started = time.monotonic()
    count = 0
    for topic, body in messages:
        publisher.publish(topic, body)
        count += 1
    if not publisher.flush(timeout=300):
        sys.exit("publisher could not flush")
    elapsed = time.monotonic() - started
    publisher.close()
    return count, elapsed


# --- the three subscribers ------------------------------------------------------------------


def run_bare(url: str, client_id: str, expected: int) -> float:
    import gc

    from readings.ingestion.mqtt import BrokerSettings, TelemetrySubscriber

    gc.freeze()  # as mqtt_consumer does: the ceiling gets the same garbage-collector relief

    times: list[float] = []
    done = threading.Event()
    subscriber: TelemetrySubscriber | None = None

    def on_message(message):
        subscriber.ack(message)
        times.append(time.monotonic())
        if len(times) >= expected:
            done.set()

    subscriber = TelemetrySubscriber(
        BrokerSettings.from_url(url),
        client_id=client_id,
        topic=TOPIC,
        on_message=on_message,
        session_expiry=3600,
        receive_maximum=receive_maximum(),
    )
    subscriber.start()
    if not done.wait(600):
        sys.exit(f"bare subscriber received {len(times)} of {expected}")
    subscriber.stop()
    return (len(times) - 1) / (times[-1] - times[0])


def drain_rate(process: subprocess.Popen, database: Database, expected: int, *, timeout: float = 300) -> float:
    """Readings/s from the first poll that saw new readings to the poll that saw `expected` in total."""
    readings, seconds = drain(process, database, expected, timeout=timeout)
    return readings / seconds if seconds > 0 else float("nan")


def drain(process: subprocess.Popen, database: Database, expected: int, *, timeout: float = 300) -> tuple[int, float]:
    """(readings, seconds) from the first poll that saw new readings to the poll that saw `expected` in total.

    Polls read the highest row id (an index lookup); the two ends are exact row counts.
    """
    baseline = database.count()
    first_time = first_count = None
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            sys.exit(f"consumer exited with {process.returncode}")
        count = database.count()
        now = time.monotonic()
        if count > baseline and first_time is None:
            first_time, first_count = now, database.exact_count()
        if count >= expected:
            final_count = database.exact_count()
            if final_count >= expected:
                break
        if now > deadline:
            sys.exit(
                f"only {count} of {expected} stored after {timeout:.0f} s "
                "(a format's messages not stored at all: does the consumer parse that format?)"
            )
        time.sleep(0.05)
    return final_count - first_count, now - first_time


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_consumer(url: str, client_id: str, database: Database, expected: int, metrics_dir: Path, batch_size: int):
    readings, seconds = run_consumer_drain(url, client_id, database, expected, metrics_dir, batch_size)
    return readings / seconds if seconds > 0 else float("nan")


def run_consumer_drain(
    url: str, client_id: str, database: Database, expected: int, metrics_dir: Path, batch_size: int
) -> tuple[int, float]:
    env = child_env(database.url, metrics_dir, MQTT_URL=url, MQTT_CLIENT_ID=client_id)
    process = subprocess.Popen(
        [PYTHON, "manage.py", "mqtt_consumer", "--batch-size", str(batch_size)], cwd=ROOT, env=env
    )
    try:
        return drain(process, database, expected)
    finally:
        stop_process(process)


def run_naive(url: str, client_id: str, database: Database, expected: int, metrics_dir: Path) -> float:
    env = child_env(database.url, metrics_dir, MQTT_URL=url, MQTT_CLIENT_ID=client_id)
    process = subprocess.Popen([PYTHON, __file__, "--naive-worker", "--client-id", client_id], cwd=ROOT, env=env)
    try:
        return drain_rate(process, database, expected)
    finally:
        stop_process(process)


def naive_worker(client_id: str) -> None:
    """The obvious consumer: everything per message, in paho's on_message."""
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from devices.models import Device
    from readings.ingestion.mqtt import BrokerSettings, TelemetrySubscriber
    from readings.ingestion.validation import DeviceInfo, parse_telemetry
    from readings.stores import get_store
    from readings.types import Reading

    store = get_store()

    def lookup(device_id):
        row = Device.objects.filter(device_id=device_id).values_list("status", "location").first()
        return (
            None if row is None else DeviceInfo(device_id, decommissioned=row[0] == "decommissioned", location=row[1])
        )

    def on_message(message):
        result = parse_telemetry(
            topic=message.topic, payload=message.payload, received_at=message.received_at, device_lookup=lookup
        )
        if isinstance(result, Reading):
            store.write_many([result])
            Device.objects.filter(device_id=result.device_id).update(last_seen=timezone.now(), status="online")
        subscriber.ack(message)

    subscriber = TelemetrySubscriber(
        BrokerSettings.from_settings(),
        client_id=client_id,
        topic=TOPIC,
        on_message=on_message,
        session_expiry=3600,
        receive_maximum=settings.MQTT_RECEIVE_MAXIMUM,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    subscriber.start()
    stopped.wait()
    subscriber.stop()


# --- modes ---------------------------------------------------------------------------------


def throughput(args, workdir: Path, metrics_dir: Path) -> None:
    """Per backend, `--rounds` rounds of bare, consumer, naive, interleaved; medians reported.

    Interleaving matters on a shared machine: load from other processes then hits all
    three alike instead of whichever happened to run at a busy moment.
    """
    broker, url = start_broker(workdir)
    results = []
    try:
        for backend in args.backends.split(","):
            database = Database(backend, workdir, args.postgres_url)
            runs: dict[str, list[float]] = {"publish": [], "bare": [], "consumer": [], "naive": []}
            try:
                seed_meters(child_env(database.url, metrics_dir), args.meters)
                stored = 0
                for round_number in range(args.rounds):
                    # Each backlog gets its own stretch of past time (a backlog spans messages/meters
                    # seconds), so no reading repeats an earlier one and all are inside the window.
                    base_days = 30 - round_number

                    bare_id = f"bench-bare-{uuid.uuid4().hex[:6]}"
                    create_session(url, bare_id)
                    published, seconds = publish(url, payloads(args.messages, args.meters, offset_days=base_days))
                    runs["publish"].append(published / seconds)
                    runs["bare"].append(run_bare(url, bare_id, args.messages))

                    consumer_id = f"bench-consumer-{uuid.uuid4().hex[:6]}"
                    create_session(url, consumer_id)
                    publish(url, payloads(args.messages, args.meters, offset_days=base_days - 0.3))
                    stored += args.messages
                    runs["consumer"].append(
                        run_consumer(url, consumer_id, database, stored, metrics_dir, args.batch_size)
                    )

                    naive_id = f"bench-naive-{uuid.uuid4().hex[:6]}"
                    create_session(url, naive_id)
                    publish(url, payloads(args.naive_messages, args.meters, offset_days=base_days - 0.6))
                    stored += args.naive_messages
                    runs["naive"].append(run_naive(url, naive_id, database, stored, metrics_dir))
                    print(
                        f"{backend} round {round_number + 1}: bare {runs['bare'][-1]:.0f}/s, "
                        f"consumer {runs['consumer'][-1]:.0f}/s, naive {runs['naive'][-1]:.0f}/s "
                        f"(publisher {runs['publish'][-1]:.0f}/s)",
                        flush=True,
                    )
            finally:
                database.drop()
            results.append({"backend": backend, **{key: statistics.median(values) for key, values in runs.items()}})
    finally:
        stop_process(broker)

    print()
    print(
        f"medians of {args.rounds} interleaved rounds; {args.messages} messages per bare/consumer run, "
        f"{args.naive_messages} per naive run; {args.meters} meters; batch size {args.batch_size}"
    )
    print(
        "| store | bare subscriber (msg/s) | mqtt_consumer (msg/s) | naive (msg/s) "
        "| consumer / bare | consumer / naive |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {row['backend']} | {row['bare']:.0f} | {row['consumer']:.0f} | {row['naive']:.0f} | "
            f"{row['consumer'] / row['bare']:.2f} {'✓' if row['consumer'] >= row['bare'] / 2 else '✗'} | "
            f"{row['consumer'] / row['naive']:.1f}× {'✓' if row['consumer'] >= 10 * row['naive'] else '✗'} |"
        )


def format_throughput(args, workdir: Path, metrics_dir: Path) -> None:
    """Per backend, `--rounds` rounds of mqtt_consumer over a backlog in each format, native first
    (the reference), interleaved; medians reported. Each backlog is --messages readings."""
    from devices.topics import topic_prefixes

    logging.getLogger("smartmeter.mqtt").setLevel(logging.WARNING)  # a session per backlog, a line per filter
    formats = (NATIVE, *(payload_format for payload_format in args.formats if payload_format != NATIVE))
    topics = ingest_topic_filters(topic_prefixes())
    broker, url = start_broker(workdir)
    results = []
    try:
        for backend in args.backends.split(","):
            database = Database(backend, workdir, args.postgres_url)
            runs: dict[str, list[tuple[int, float]]] = {payload_format: [] for payload_format in formats}
            try:
                seed_meters(child_env(database.url, metrics_dir), args.meters, formats)
                stored = 0
                for round_number in range(args.rounds):
                    for payload_format in formats:
                        client_id = f"bench-format-{uuid.uuid4().hex[:6]}"
                        create_session(url, client_id, topics)
                        backlog = format_payloads(
                            payload_format, args.messages, args.meters, offset_days=30 - round_number
                        )
                        publish(url, backlog)
                        stored += args.messages
                        readings, seconds = run_consumer_drain(
                            url, client_id, database, stored, metrics_dir, args.batch_size
                        )
                        runs[payload_format].append((readings, seconds))
                        print(
                            f"{backend} round {round_number + 1}: {payload_format} "
                            f"{readings / seconds if seconds > 0 else float('nan'):.0f} readings/s",
                            flush=True,
                        )
            finally:
                database.drop()
            for payload_format in formats:
                readings, seconds = median_run(runs[payload_format])
                results.append(
                    {
                        "backend": backend,
                        "format": payload_format,
                        "messages": args.messages * messages_per_reading(payload_format),
                        "readings": args.messages,
                        "seconds": seconds,
                        "rate": readings / seconds if seconds > 0 else float("nan"),
                        "per_reading": messages_per_reading(payload_format),
                    }
                )
    finally:
        stop_process(broker)

    print()
    print(
        f"medians of {args.rounds} interleaved rounds; {args.messages} readings per backlog; {args.meters} meters "
        f"per format; batch size {args.batch_size}; rates from the first stored batch to the last"
    )
    print(
        "| store | format | messages | readings | seconds | readings/s | messages/s "
        "| ratio to native (readings) | ratio to native (messages) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    native = {row["backend"]: row["rate"] for row in results if row["format"] == NATIVE}
    for row in results:
        ratio = row["rate"] / native[row["backend"]]
        print(
            f"| {row['backend']} | {row['format']} | {row['messages']} | {row['readings']} | {row['seconds']:.1f} "
            f"| {row['rate']:.0f} | {row['rate'] * row['per_reading']:.0f} | {ratio:.2f} "
            f"| {ratio * row['per_reading']:.2f} |"
        )


def median_run(runs: list[tuple[int, float]]) -> tuple[int, float]:
    """The round with the median rate (readings, seconds)."""
    ranked = sorted(runs, key=lambda run: run[0] / run[1] if run[1] > 0 else 0.0)
    return ranked[len(ranked) // 2]


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    chosen: list[str] = []
    for value in values or ():
        for name in value.split(","):
            name = name.strip()
            if name == "all":
                chosen.extend(PAYLOAD_FORMATS)
            elif name in PAYLOAD_FORMATS:
                chosen.append(name)
            elif name:
                raise ValueError(f"unknown format {name!r}: one of {', '.join(PAYLOAD_FORMATS)} or all")
    return tuple(dict.fromkeys(chosen))


def memory(args, workdir: Path, metrics_dir: Path) -> None:
    import psutil

    broker, url = start_broker(workdir)
    database = Database("sqlite", workdir, args.postgres_url)
    consumer = None
    try:
        seed_meters(child_env(database.url, metrics_dir), args.meters)
        client_id = f"bench-memory-{uuid.uuid4().hex[:6]}"
        env = child_env(database.url, metrics_dir, MQTT_URL=url, MQTT_CLIENT_ID=client_id)
        consumer = subprocess.Popen([PYTHON, "manage.py", "mqtt_consumer"], cwd=ROOT, env=env)
        process = psutil.Process(consumer.pid)
        samples: list[tuple[float, int, int]] = []
        published = {"count": 0}

        def publish_all():
            published["count"], _ = publish(url, payloads(args.memory, args.meters, offset_days=30))

        time.sleep(3)  # subscribed before the first publish
        publisher = threading.Thread(target=publish_all, daemon=True)
        started = time.monotonic()
        publisher.start()
        while True:
            stored = database.count()
            if stored >= args.memory:
                stored = database.exact_count()  # ids skip over ignored duplicates: confirm with a count
            rss = process.memory_info().rss
            samples.append((time.monotonic() - started, stored, rss))
            print(f"{samples[-1][0]:7.1f} s  stored {stored:9d}  consumer RSS {rss / 2**20:7.1f} MiB", flush=True)
            if stored >= args.memory:
                break
            if consumer.poll() is not None:
                sys.exit("consumer exited")
            time.sleep(args.rss_interval)
        publisher.join()
    finally:
        if consumer is not None:
            stop_process(consumer)
        database.drop()
        stop_process(broker)

    peak = max(rss for _, _, rss in samples)
    elapsed = samples[-1][0]
    print()
    print(
        f"{args.memory} messages stored in {elapsed:.0f} s "
        f"({args.memory / elapsed:.0f}/s end to end, publisher included)"
    )
    print(f"consumer peak RSS {peak / 2**20:.1f} MiB")
    print("| elapsed (s) | stored | consumer RSS (MiB) |")
    print("|---:|---:|---:|")
    step = max(1, len(samples) // 12)
    for elapsed, stored, rss in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"| {elapsed:.0f} | {stored} | {rss / 2**20:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--naive-messages", type=int, default=5_000)
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--batch-size", type=int, default=None, help="Default: INGEST_BATCH_SIZE.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds per backend, at most 25 (medians).")
    parser.add_argument("--memory", type=int, default=0, help="Memory mode: messages to ingest while sampling RSS.")
    parser.add_argument("--rss-interval", type=float, default=1.0)
    parser.add_argument(
        "--format",
        action="append",
        dest="format_names",
        metavar="FORMAT",
        help=f"Format mode: one of {', '.join(PAYLOAD_FORMATS)} or all (repeat or comma-separate; "
        "native is always measured as the reference).",
    )
    parser.add_argument("--naive-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client-id", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if not 1 <= args.rounds <= 25:
        parser.error("--rounds must be 1-25 (each round takes its own day of the 35-day window)")
    try:
        args.formats = parse_formats(args.format_names)
    except ValueError as exc:
        parser.error(str(exc))
    if args.formats and args.memory:
        parser.error("--format and --memory are separate modes")
    if args.naive_worker:
        os.chdir(ROOT)
        naive_worker(args.client_id)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        metrics_dir = workdir / "metrics"
        metrics_dir.mkdir()
        setup_django(metrics_dir)
        if args.batch_size is None:
            from django.conf import settings

            args.batch_size = settings.INGEST_BATCH_SIZE
        if args.memory:
            memory(args, workdir, metrics_dir)
        elif args.formats:
            format_throughput(args, workdir, metrics_dir)
        else:
            throughput(args, workdir, metrics_dir)


if __name__ == "__main__":
    main()
