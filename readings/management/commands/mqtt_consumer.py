"""python manage.py mqtt_consumer: store meter telemetry from the broker (see docs/ingestion.md)."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.identity import TELEMETRY_TOPIC_FILTER, ingest_topic_filters
from devices.topics import topic_prefixes
from readings.ingestion.consumer import ConsumerOptions, IngestConsumer
from readings.ingestion.mqtt import BrokerSettings, MqttConfigError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Consume smartmeter/<device_id>/telemetry over MQTT (QoS 1, persistent session), validate, store in "
        "batches and acknowledge only what is stored. SIGTERM/SIGINT finish the batch in hand and exit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--group",
            default=settings.MQTT_SHARED_GROUP,
            help="Shared-subscription group ($share/<group>/...): consumers in one group split the messages. "
            "Give each consumer its own --client-id. Default: MQTT_SHARED_GROUP.",
        )
        parser.add_argument(
            "--client-id",
            default=settings.MQTT_CLIENT_ID,
            help="Stable MQTT client id; the broker keeps this consumer's session under it. Default: MQTT_CLIENT_ID.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            default=settings.INGEST_BATCH_SIZE,
            help="Store after this many messages (capped at the receive maximum). Default: INGEST_BATCH_SIZE.",
        )
        parser.add_argument(
            "--batch-age",
            type=_positive_float,
            default=settings.INGEST_BATCH_MAX_AGE,
            help="Store a partial batch this many seconds after its first message. Default: INGEST_BATCH_MAX_AGE.",
        )
        parser.add_argument(
            "--receive-maximum",
            type=_positive_int,
            default=settings.MQTT_RECEIVE_MAXIMUM,
            help="Unacknowledged messages the broker may have in flight to us (1-65535). "
            "Default: MQTT_RECEIVE_MAXIMUM.",
        )

    def handle(self, *args, **options):
        try:
            broker = BrokerSettings.from_settings()
        except MqttConfigError as exc:
            raise CommandError(str(exc)) from exc
        consumer = IngestConsumer(
            broker=broker,
            options=ConsumerOptions(
                client_id=options["client_id"],
                topic=TELEMETRY_TOPIC_FILTER,
                topics=ingest_topic_filters(topic_prefixes()),
                shared_group=options["group"],
                batch_size=options["batch_size"],
                batch_max_age=options["batch_age"],
                receive_maximum=min(options["receive_maximum"], 65535),
                session_expiry=settings.MQTT_SESSION_EXPIRY,
            ),
        )

        def stop(signum, _frame):
            consumer.request_stop(f"received {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            consumer.run()
        except MqttConfigError as exc:
            raise CommandError(str(exc)) from exc
