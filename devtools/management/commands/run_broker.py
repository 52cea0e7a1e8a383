"""python manage.py run_broker: make sure an MQTT broker answers at MQTT_URL (used by `make run`).

- a broker already answers there: do nothing, and wait (so the process manager keeps running);
- otherwise, for a local address: run Mosquitto with deploy/mosquitto.conf in the foreground
  (listener moved to MQTT_URL's port, persistence under var/mosquitto/), or, where Mosquitto
  is not installed, the pip-installed amqtt broker.
"""

import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.broker import LOCAL_HOSTS, amqtt_run, mosquitto_binary, mosquitto_config_write
from readings.ingestion.mqtt import BrokerSettings, MqttConfigError, broker_probe


class Command(BaseCommand):
    help = "Start a local MQTT broker for MQTT_URL unless one already answers there (then just wait)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--engine",
            choices=["auto", "mosquitto", "amqtt"],
            default="auto",
            help="Which broker to start when none answers (auto: Mosquitto when installed, else amqtt).",
        )
        parser.add_argument(
            "--directory",
            default=str(settings.VAR_DIR / "mosquitto"),
            help="Where Mosquitto's generated config and persistence files go (default var/mosquitto).",
        )

    def handle(self, *args, **options):
        try:
            broker = BrokerSettings.from_settings()
            answering = broker_probe(broker, timeout=2.0)
        except MqttConfigError as exc:
            raise CommandError(str(exc)) from exc
        if answering is not None:
            self.stdout.write(f"An MQTT broker already answers at {broker.describe()}; not starting another.")
            return self._wait()
        if broker.host not in LOCAL_HOSTS:
            self.stderr.write(
                f"No broker answers at {broker.describe()}, and it is not a local address: start it there. Waiting."
            )
            return self._wait()
        if broker.tls:
            self.stderr.write(
                "MQTT_URL uses TLS (mqtts://): run Mosquitto with the TLS listener from deploy/mosquitto-tls.md. "
                "Waiting."
            )
            return self._wait()

        engine = options["engine"]
        binary = mosquitto_binary()
        if engine == "mosquitto" and binary is None:
            raise CommandError("mosquitto is not installed (apt-get install mosquitto)")
        if binary is not None and engine != "amqtt":
            config = mosquitto_config_write(port=broker.port, host=broker.host, directory=Path(options["directory"]))
            self.stdout.write(f"Starting Mosquitto on {broker.describe()} with {config}")
            self.stdout.flush()
            os.execv(binary, [binary, "-c", str(config)])  # noqa: S606 - our config, our binary; signals go to it
        self.stdout.write(
            f"Mosquitto is not installed: starting the amqtt broker on {broker.describe()} "
            "(MQTT 3.1.1, in memory; install Mosquitto for persistence)."
        )
        self.stdout.flush()
        amqtt_run(host=broker.host, port=broker.port)

    def _wait(self) -> None:
        stopped = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopped.set())
        while not stopped.wait(3600):
            pass
