"""python manage.py simulate_meters: publish realistic telemetry for a few meters (demos, tests).

    manage.py simulate_meters                         # 5 registered meters, one reading each every 10 s
    manage.py simulate_meters --devices m-1,m-2 --interval 2
    manage.py simulate_meters --backfill-days 30      # first publish the last 30 days quickly, then go live
    manage.py simulate_meters --backfill-days 7 --rounds 0   # backfill only, then exit
    manage.py simulate_meters --format tasmota --devices plug-1  # meters provisioned as Tasmota

Publishes QoS 1 at MQTT_URL (TLS and credentials included), each meter in its own payload format
(Device.payload_format) on that format's topics (docs/ingestion.md#payload-formats); --format
insists on one format and refuses meters provisioned in another. Backfilled readings use each
format's timestamped form (Shelly: NotifyStatus on events/rpc). Backfill continues each meter's
register from its newest stored reading, so running it twice neither duplicates readings nor
makes the register go backwards.
"""

import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from devices.identity import NATIVE, PAYLOAD_FORMATS
from devices.models import Device
from devices.topics import topic_prefixes
from devtools.meter_formats import EncodeOptions
from devtools.simulation import SimulatedMeter, backfill_instants
from readings.ingestion.mqtt import BrokerSettings, MqttConfigError, TelemetryPublisher, broker_probe

logger = logging.getLogger("smartmeter.simulator")


class Command(BaseCommand):
    help = "Publish realistic telemetry for N meters over MQTT (daily load curve, growing register)."

    def add_arguments(self, parser):
        parser.add_argument("--meters", type=int, default=5, help="How many registered meters to simulate (default 5).")
        parser.add_argument("--devices", default="", help="Comma-separated meter ids to simulate instead.")
        parser.add_argument("--interval", type=float, default=10.0, help="Seconds between live readings (default 10).")
        parser.add_argument(
            "--backfill-days", type=float, default=0, help="First publish this many past days (default 0: none)."
        )
        parser.add_argument(
            "--backfill-interval",
            type=float,
            default=300.0,
            help="Seconds between backfilled readings (default 300).",
        )
        parser.add_argument(
            "--rounds",
            type=int,
            default=-1,
            help="Live readings per meter before exiting (default: run until stopped).",
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed for repeatable telemetry.")
        parser.add_argument(
            "--format",
            choices=PAYLOAD_FORMATS,
            default=None,
            help="Payload format to publish in (default: each meter's own); meters provisioned "
            "in another format are refused.",
        )
        parser.add_argument(
            "--wait", type=float, default=120.0, help="Seconds to wait for the broker to answer (default 120)."
        )

    def handle(self, *args, **options):
        if options["interval"] <= 0 or options["backfill_interval"] <= 0:
            raise CommandError("--interval and --backfill-interval must be positive")
        self.stopped = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *_: self.stopped.set()) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self._run(options)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self, options) -> None:

        device_ids = self._device_ids(options)
        self.formats = self._formats(device_ids, options["format"])
        self.encoding = EncodeOptions(
            prefixes=topic_prefixes(),
            tasmota_zone=ZoneInfo(settings.TASMOTA_TIME_ZONE),
            dsmr_zone=timezone.get_default_timezone(),
        )
        zone = timezone.get_default_timezone()
        meters = [SimulatedMeter.create(device_id, seed=options["seed"]) for device_id in device_ids]
        latest = self._latest_readings(device_ids)
        for meter in meters:
            if meter.device_id in latest:
                stored = latest[meter.device_id]
                meter.resume(register_kwh=float(stored.energy_kwh), at=stored.timestamp)

        try:
            broker = BrokerSettings.from_settings()
            self._wait_for_broker(broker, options["wait"])
        except MqttConfigError as exc:
            raise CommandError(str(exc)) from exc
        if self.stopped.is_set():
            return
        publisher = TelemetryPublisher(broker, client_id=f"smartmeter-simulator-{os.getpid()}")
        publisher.connect(timeout=options["wait"])
        try:
            if options["backfill_days"] > 0:
                self._backfill(publisher, meters, zone, options)
            if options["rounds"] != 0 and not self.stopped.is_set():
                self._live(publisher, meters, zone, options)
            publisher.flush(timeout=30)
        finally:
            publisher.close()

    def _device_ids(self, options) -> list[str]:
        if options["devices"]:
            return [device_id.strip() for device_id in options["devices"].split(",") if device_id.strip()]
        device_ids = list(
            Device.objects.active().order_by("device_id").values_list("device_id", flat=True)[: options["meters"]]
        )
        if not device_ids:
            raise CommandError("No registered meters to simulate: run `manage.py seed_demo` or pass --devices.")
        if len(device_ids) < options["meters"]:
            self.stdout.write(f"Only {len(device_ids)} registered meter(s); simulating those.")
        return device_ids

    def _formats(self, device_ids: list[str], wanted: str | None) -> dict[str, str]:
        """Each meter's payload format: its own (native for an id nobody provisioned), or `wanted`,
        which every provisioned meter must already speak (the consumer refuses a meter's messages
        in any format but its own)."""
        provisioned = dict(Device.objects.filter(device_id__in=device_ids).values_list("device_id", "payload_format"))
        if wanted is not None:
            others = sorted(
                f"{device_id} ({provisioned[device_id]})"
                for device_id in device_ids
                if provisioned.get(device_id, wanted) != wanted
            )
            if others:
                raise CommandError(
                    f"--format {wanted} is for meters provisioned in that format; these are not: {', '.join(others)}"
                )
        return {device_id: wanted or provisioned.get(device_id, NATIVE) for device_id in device_ids}

    def _publish(self, publisher: TelemetryPublisher, meter: SimulatedMeter, when: datetime, zone, *, backfill: bool):
        messages = meter.messages_at(when, zone, self.formats[meter.device_id], self.encoding, backfill=backfill)
        for topic, payload in messages:
            publisher.publish(topic, payload)
        return len(messages)

    def _latest_readings(self, device_ids: list[str]) -> dict:
        from readings.stores import get_store

        return get_store().latest_many(device_ids)

    def _wait_for_broker(self, broker: BrokerSettings, wait: float) -> None:
        deadline = time.monotonic() + wait
        announced = False
        while not self.stopped.is_set():
            if broker_probe(broker, timeout=2.0) is not None:
                return
            if time.monotonic() > deadline:
                raise CommandError(f"no MQTT broker answered at {broker.describe()} within {wait:.0f} s")
            if not announced:
                self.stdout.write(f"Waiting for the MQTT broker at {broker.describe()} ...")
                announced = True
            self.stopped.wait(1.0)

    def _backfill(self, publisher: TelemetryPublisher, meters: list[SimulatedMeter], zone, options) -> None:
        now = datetime.now(UTC)
        window = timedelta(days=settings.INGEST_BACKFILL_DAYS) - timedelta(hours=1)  # margin for the publish time
        days = timedelta(days=options["backfill_days"])
        if days > window:
            self.stdout.write(f"Readings older than INGEST_BACKFILL_DAYS are rejected: backfilling {window.days} days.")
            days = window
        step = timedelta(seconds=options["backfill_interval"])
        started = time.monotonic()
        published = messages = 0
        for meter in meters:
            start = now - days
            if meter.last_at is not None and meter.last_at + step > start:
                start = meter.last_at + step  # continue after what is already stored
            for when in backfill_instants(start=start, end=now, step=step):
                if self.stopped.is_set():
                    return
                messages += self._publish(publisher, meter, when, zone, backfill=True)
                published += 1
        publisher.flush(timeout=120)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Backfilled {published} readings ({messages} messages) for {len(meters)} meter(s) in {elapsed:.1f} s "
            f"({published / elapsed if elapsed else 0:.0f}/s)."
        )

    def _live(self, publisher: TelemetryPublisher, meters: list[SimulatedMeter], zone, options) -> None:
        interval = options["interval"]
        rounds = options["rounds"]
        named = ", ".join(f"{meter.device_id} ({self.formats[meter.device_id]})" for meter in meters)
        self.stdout.write(f"Publishing live telemetry for {named} every {interval:g} s")
        done = 0
        next_at = time.monotonic()
        while not self.stopped.is_set() and (rounds < 0 or done < rounds):
            now = datetime.now(UTC)
            for meter in meters:
                self._publish(publisher, meter, now, zone, backfill=False)
            done += 1
            if rounds >= 0 and done >= rounds:
                break
            next_at += interval
            self.stopped.wait(max(0.0, next_at - time.monotonic()))
