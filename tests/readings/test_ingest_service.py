"""readings_ingest_batch and friends on the real database: what is stored, what is dead-lettered,
how meters' status moves, and how store failures are ridden out or isolated."""

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DataError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices.models import Device
from ops import metrics
from readings.ingestion.batch import readings_ingest_batch
from readings.ingestion.dead_letters import CONFLICTING_READING, STORE_REJECTED, DeadLetterEntry, dead_letters_insert
from readings.ingestion.directory import DeviceDirectory
from readings.ingestion.messages import TelemetryMessage
from readings.ingestion.retry import Retrier, ShutdownRequested, is_data_error
from readings.models import DeadLetter
from readings.selectors import device_consumption
from readings.stores import get_store
from tests.factories import DeviceFactory


def payload(when: datetime, register: float = 10.0, **fields) -> bytes:
    body = {
        "timestamp": when.isoformat(),
        "voltage": 230.0,
        "current": 1.5,
        "power_w": 330.0,
        "energy_kwh": register,
        "power_factor": 0.96,
        "rssi": -58,
    }
    body.update(fields)
    return json.dumps(body).encode()


def message(device_id: str, body: bytes, received_at: datetime | None = None) -> TelemetryMessage:
    return TelemetryMessage(f"smartmeter/{device_id}/telemetry", body, received_at or timezone.now())


@pytest.fixture
def meters(customer):
    return [
        DeviceFactory(device_id="meter-a", owner=customer, location="Pune"),
        DeviceFactory(device_id="meter-b", owner=customer),
        DeviceFactory(device_id="meter-old", owner=customer, status=Device.Status.DECOMMISSIONED),
    ]


def counter(metric, **labels) -> float:
    return (metric.labels(**labels) if labels else metric)._value.get()


@pytest.mark.django_db
def test_a_batch_is_stored_rejected_and_counted_message_by_message(meters):
    now = timezone.now().replace(microsecond=0)
    accepted_before = counter(metrics.READINGS_ACCEPTED)
    rejected_before = counter(metrics.READINGS_REJECTED, reason="out_of_range")
    batch = [
        message("meter-a", payload(now - timedelta(minutes=2), 10.0)),
        message("meter-a", payload(now - timedelta(minutes=1), 10.2)),
        message("meter-b", payload(now - timedelta(minutes=1), 5.0)),
        message("meter-a", payload(now - timedelta(minutes=1), 10.2)),  # same reading again in the batch
        message("meter-b", payload(now, 5.1, voltage=-3)),
        message("meter-old", payload(now, 1.0)),
        message("nobody", payload(now, 1.0)),
    ]

    outcome = readings_ingest_batch(messages=batch)

    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (3, 1, 3)
    assert get_store().count() == 3
    assert sorted(DeadLetter.objects.values_list("reason", flat=True)) == [
        "decommissioned_device",
        "out_of_range",
        "unknown_device",
    ]
    assert counter(metrics.READINGS_ACCEPTED) - accepted_before == 3
    assert counter(metrics.READINGS_REJECTED, reason="out_of_range") - rejected_before == 1


@pytest.mark.django_db
def test_a_retained_message_is_dead_lettered_counted_and_logged_never_stored(meters, caplog):
    """The broker's replay of a message published with the retain flag: old or planted, never live."""
    now = timezone.now().replace(microsecond=0)
    rejected_before = counter(metrics.READINGS_REJECTED, reason="retained")
    replayed = TelemetryMessage(
        "smartmeter/meter-a/telemetry", payload(now - timedelta(days=3), 99.0), now, mid=7, retained=True
    )
    live = message("meter-b", payload(now, 5.0))

    outcome = readings_ingest_batch(messages=[replayed, live])

    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (1, 0, 1)
    assert (get_store().count("meter-a"), get_store().count("meter-b")) == (0, 1)
    letter = DeadLetter.objects.get()
    assert (letter.reason, letter.device_id, letter.payload_excerpt) == (
        "retained",
        "meter-a",
        replayed.payload.decode(),
    )
    assert "retain" in letter.detail
    assert counter(metrics.READINGS_REJECTED, reason="retained") - rejected_before == 1
    assert "rejected telemetry from meter-a (retained)" in caplog.text
    assert Device.objects.get(device_id="meter-a").last_seen is None  # a replay is no sign of life


@pytest.mark.django_db
def test_a_batch_delivered_twice_stores_nothing_the_second_time(meters):
    now = timezone.now()
    batch = [message("meter-a", payload(now - timedelta(seconds=seconds))) for seconds in range(20)]
    assert readings_ingest_batch(messages=batch).stored == 20

    again = readings_ingest_batch(messages=batch)

    assert (again.stored, again.duplicates) == (0, 20)
    assert get_store().count("meter-a") == 20


@pytest.mark.django_db
def test_dead_letters_keep_topic_reason_detail_and_a_readable_payload_excerpt(meters):
    received = timezone.now()
    readings_ingest_batch(
        messages=[
            TelemetryMessage("smartmeter/meter-a/telemetry", b'{"voltage": "230\x00"}\xff', received),
            TelemetryMessage("smartmeter/meter-a/telemetry", b"y" * 6000, received),
        ]
    )

    not_json, oversize = DeadLetter.objects.order_by("id")
    assert not_json.reason == "not_json"
    assert not_json.topic == "smartmeter/meter-a/telemetry"
    assert not_json.device_id == "meter-a"
    assert "UTF-8" in not_json.detail
    assert not_json.payload_excerpt == '{"voltage": "230\\x00"}\\xff'
    assert not_json.received_at == received
    assert oversize.reason == "oversize"
    assert oversize.payload_size == 6000
    assert len(oversize.payload_excerpt) == 4096


@pytest.mark.django_db
def test_the_dead_letter_store_is_trimmed_to_its_limit_oldest_first(settings):
    settings.DEAD_LETTER_MAX_ROWS = 5
    now = timezone.now()
    entries = [
        DeadLetterEntry(topic=f"t/{index}", payload=b"x", reason="not_json", detail="", received_at=now)
        for index in range(8)
    ]
    dead_letters_insert(entries=entries[:4])
    dead_letters_insert(entries=entries[4:])

    assert list(DeadLetter.objects.order_by("id").values_list("topic", flat=True)) == [
        "t/3",
        "t/4",
        "t/5",
        "t/6",
        "t/7",
    ]


@pytest.mark.django_db
def test_meters_come_online_in_one_update_per_batch(meters):
    now = timezone.now()
    batch = [
        message(device_id, payload(now - timedelta(seconds=index)))
        for index in range(30)
        for device_id in ("meter-a", "meter-b")
    ]
    with CaptureQueriesContext(connection) as queries:
        readings_ingest_batch(messages=batch)
    device_updates = [query["sql"] for query in queries if query["sql"].startswith('UPDATE "devices_device"')]
    assert len(device_updates) == 1

    for device in Device.objects.filter(device_id__in=["meter-a", "meter-b"]):
        assert device.status == Device.Status.ONLINE
        assert device.last_seen == now.replace(microsecond=(now.microsecond // 1000) * 1000)


@pytest.mark.django_db
def test_an_old_reading_moves_last_seen_but_does_not_bring_a_meter_online(meters, settings):
    settings.DEVICE_OFFLINE_AFTER = timedelta(minutes=5)
    old = timezone.now() - timedelta(hours=3)
    readings_ingest_batch(messages=[message("meter-b", payload(old))])

    meter = Device.objects.get(device_id="meter-b")
    assert meter.status == Device.Status.OFFLINE
    assert abs(meter.last_seen - old) < timedelta(milliseconds=1)


class FlakyStore:
    """The real store behind a fault: the first `failures` writes raise `error`."""

    def __init__(self, *, failures: int, error: Exception):
        self.real = get_store()
        self.failures = failures
        self.error = error
        self.calls = 0

    def write_many(self, readings):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.real.write_many(readings)


@pytest.mark.django_db
def test_a_store_outage_is_retried_until_the_batch_is_written(meters):
    store = FlakyStore(failures=3, error=OperationalError("could not connect to server"))
    failures_before = counter(metrics.INGEST_WRITE_FAILURES)
    failures = []

    def count_failure(what, error, attempt):
        metrics.INGEST_WRITE_FAILURES.inc()
        failures.append(attempt)

    retrier = Retrier(sleep=lambda seconds: None, on_failure=count_failure)
    batch = [message("meter-a", payload(timezone.now() - timedelta(seconds=index))) for index in range(10)]

    outcome = readings_ingest_batch(messages=batch, store=store, attempt=retrier.run)

    assert outcome.stored == 10
    assert failures == [1, 2, 3]
    assert counter(metrics.INGEST_WRITE_FAILURES) - failures_before == 3
    assert get_store().count("meter-a") == 10


@pytest.mark.django_db
def test_back_off_doubles_up_to_its_cap():
    pauses = []
    calls = iter([OperationalError("down")] * 6)

    def step():
        error = next(calls, None)
        if error:
            raise error
        return "written"

    retrier = Retrier(initial_delay=0.5, max_delay=4, sleep=pauses.append)
    assert retrier.run(step, what="write") == "written"
    assert pauses == [0.5, 1, 2, 4, 4, 4]


@pytest.mark.django_db
def test_stopping_during_an_outage_gives_up_without_writing_after_the_grace_period():
    stop = threading.Event()
    stop.set()
    retrier = Retrier(stop=stop, grace=0.3, initial_delay=0.05, max_delay=0.05)

    def down():
        raise OperationalError("database is locked")

    with pytest.raises(ShutdownRequested):
        retrier.run(down, what="store readings")


@pytest.mark.django_db
def test_a_reading_the_store_refuses_is_isolated_and_dead_lettered_while_the_rest_is_stored(meters):
    now = timezone.now()

    class PoisonStore:
        real = get_store()

        def write_many(self, readings):
            if any(reading.energy_kwh == 666.0 for reading in readings):
                raise DataError("value out of range for column energy_kwh")
            return self.real.write_many(readings)

    batch = [message("meter-a", payload(now - timedelta(seconds=index), 10 + index)) for index in range(9)]
    batch.insert(4, message("meter-b", payload(now, 666.0)))

    outcome = readings_ingest_batch(messages=batch, store=PoisonStore(), attempt=Retrier(sleep=lambda s: None).run)

    assert outcome.stored == 9
    assert outcome.rejected == 1
    dead = DeadLetter.objects.get()
    assert dead.reason == STORE_REJECTED
    assert dead.device_id == "meter-b"
    assert "out of range" in dead.detail
    assert json.loads(dead.payload_excerpt)["energy_kwh"] == 666.0


def test_only_errors_caused_by_the_data_split_a_batch():
    assert is_data_error(DataError("numeric overflow"))
    assert is_data_error(ValueError("bad value"))
    assert not is_data_error(OperationalError("server closed the connection"))
    assert not is_data_error(ConnectionError("reset"))


@pytest.mark.django_db
def test_the_meter_directory_asks_the_database_once_per_batch_and_caches(meters, django_assert_num_queries):
    ticks = [0.0]
    directory = DeviceDirectory(ttl=30, clock=lambda: ticks[0])
    with django_assert_num_queries(1):
        directory.prefetch(["meter-a", "meter-b", "ghost"])
    with django_assert_num_queries(0):
        assert directory.lookup("meter-a").location == "Pune"
        assert directory.lookup("ghost") is None
        directory.prefetch(["meter-a", "ghost"])

    Device.objects.filter(device_id="meter-a").update(status=Device.Status.DECOMMISSIONED)
    ticks[0] = 31
    directory.prefetch(["meter-a"])
    assert directory.lookup("meter-a").decommissioned
    assert directory.lookup("meter-a").exchanged_at is None


@pytest.fixture
def exchanged_a(meters) -> datetime:
    """meter-a exchanged for meter-a2 an hour ago (the real service); returns the instant."""
    from devices.services import device_exchange

    instant = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    Device.objects.filter(device_id="meter-a").update(created_at=instant - timedelta(days=30))
    device_exchange(
        old_device=Device.objects.get(device_id="meter-a"),
        new_device_id="meter-a2",
        old_final_register=Decimal("10.5"),
        new_initial_register=Decimal("0"),
        exchanged_at=instant,
        actor=None,
    )
    return instant


@pytest.mark.django_db
def test_the_meter_directory_knows_an_exchanged_meter_and_its_replacement_in_the_same_query(
    exchanged_a, django_assert_num_queries
):
    instant = exchanged_a
    directory = DeviceDirectory()
    with django_assert_num_queries(1):
        directory.prefetch(["meter-a", "meter-a2", "meter-b", "meter-old"])
    old, new = directory.lookup("meter-a"), directory.lookup("meter-a2")
    assert (old.decommissioned, old.exchanged_at, old.exchanged_for) == (True, instant, "meter-a2")
    assert old.location == "Pune"
    assert (new.decommissioned, new.exchanged_at, new.location) == (False, None, "Pune")
    assert directory.lookup("meter-old").exchanged_at is None  # retired without an exchange


@pytest.mark.django_db
def test_an_exchanged_meters_late_readings_are_stored_and_its_later_ones_dead_lettered(exchanged_a):
    instant = exchanged_a
    outcome = readings_ingest_batch(
        messages=[
            message("meter-a", payload(instant - timedelta(minutes=1), 10.4)),
            message("meter-a", payload(instant, 10.5)),
            message("meter-a2", payload(instant + timedelta(minutes=1), 0.01)),
            message("meter-old", payload(instant - timedelta(minutes=1), 3.0)),
        ]
    )
    assert (outcome.stored, outcome.rejected) == (2, 2)
    assert sorted(DeadLetter.objects.values_list("reason", "device_id")) == [
        ("decommissioned_device", "meter-old"),
        ("meter_exchanged", "meter-a"),
    ]
    assert DeadLetter.objects.get(device_id="meter-a").detail.startswith(
        "meter 'meter-a' was exchanged for 'meter-a2' at "
    )
    assert Device.objects.get(device_id="meter-a").status == Device.Status.DECOMMISSIONED  # not brought online


def test_received_at_in_any_zone_is_the_same_instant(meters):
    from zoneinfo import ZoneInfo

    received = datetime.now(ZoneInfo("Asia/Kolkata"))
    outcome = readings_ingest_batch(messages=[message("meter-a", payload(received.astimezone(UTC)), received)])
    assert outcome.stored == 1


# --- two registers at one instant (a stored reading is never edited) ------------------------


def instant_shown(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def an_hour_of_meter_a(meters):
    """meter-a at 10.000 kWh an hour ago; returns (that instant, the instant under test).

    The tests step its register by 90 kWh in that hour: plausible only for a large sanctioned load."""
    Device.objects.filter(device_id="meter-a").update(sanctioned_load_kw=Decimal("100"))
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    earlier = at - timedelta(hours=1)
    assert readings_ingest_batch(messages=[message("meter-a", payload(earlier, 10.0))]).stored == 1
    return earlier, at


def consumption_kwh(earlier: datetime, at: datetime) -> Decimal:
    return device_consumption(device_id="meter-a", start=earlier, end=at + timedelta(seconds=1)).energy_kwh


@pytest.mark.django_db
def test_a_second_register_at_a_stored_instant_is_dead_lettered_and_the_first_kept(an_hour_of_meter_a, caplog):
    earlier, at = an_hour_of_meter_a
    rejected_before = counter(metrics.READINGS_REJECTED, reason=CONFLICTING_READING)
    assert readings_ingest_batch(messages=[message("meter-a", payload(at, 100.0))]).stored == 1
    refused = message("meter-a", payload(at, 105.0))

    outcome = readings_ingest_batch(messages=[refused])

    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (0, 0, 1)
    letter = DeadLetter.objects.get()
    assert (letter.reason, letter.device_id, letter.payload_excerpt) == (
        "conflicting_reading",
        "meter-a",
        refused.payload.decode(),
    )
    assert letter.detail == (
        f"a reading at {instant_shown(at)} is already stored with register 100.000 kWh; this one says 105.000"
    )
    assert get_store().latest("meter-a").energy_kwh == 100.0
    assert consumption_kwh(earlier, at) == Decimal("90.000")
    assert counter(metrics.READINGS_REJECTED, reason=CONFLICTING_READING) - rejected_before == 1
    assert "rejected telemetry from meter-a (conflicting_reading)" in caplog.text


@pytest.mark.django_db
def test_the_lower_register_arriving_second_is_the_one_refused(an_hour_of_meter_a):
    earlier, at = an_hour_of_meter_a
    readings_ingest_batch(messages=[message("meter-a", payload(at, 105.0))])

    outcome = readings_ingest_batch(messages=[message("meter-a", payload(at, 100.0))])

    assert (outcome.stored, outcome.rejected) == (0, 1)
    assert DeadLetter.objects.get().detail.endswith("already stored with register 105.000 kWh; this one says 100.000")
    assert consumption_kwh(earlier, at) == Decimal("95.000")


@pytest.mark.django_db
def test_two_registers_at_one_instant_in_one_batch_store_the_first_and_refuse_the_second(an_hour_of_meter_a):
    earlier, at = an_hour_of_meter_a
    batch = [
        message("meter-a", payload(at, 100.0)),
        message("meter-b", payload(at, 5.0)),
        message("meter-a", payload(at + timedelta(microseconds=250), 105.0)),  # the same millisecond
        message("meter-a", payload(at, 100.0)),  # a redelivery of the first
    ]

    outcome = readings_ingest_batch(messages=batch)

    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (2, 1, 1)
    letter = DeadLetter.objects.get()
    assert letter.reason == CONFLICTING_READING
    assert "register 100.000 kWh; this one says 105.000" in letter.detail
    assert consumption_kwh(earlier, at) == Decimal("90.000")


@pytest.mark.django_db
def test_a_redelivered_reading_is_a_duplicate_not_a_conflict(an_hour_of_meter_a):
    _, at = an_hour_of_meter_a
    first = [message("meter-a", payload(at, 100.0)), message("meter-b", payload(at, 5.0))]
    readings_ingest_batch(messages=first)
    # Equal register, other fields differing: still the stored reading again (docs/ingestion.md).
    batch = [*first, message("meter-a", payload(at, 100.0, voltage=231.0))]

    outcome = readings_ingest_batch(messages=batch)

    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (0, 3, 0)
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_a_batch_with_nothing_repeated_asks_the_store_nothing_more(meters):
    now = timezone.now().replace(microsecond=0)
    batch = [message("meter-a", payload(now - timedelta(seconds=index), 10.0 + index)) for index in range(5)]

    class Watched:
        real = get_store()

        def write_many(self, readings):
            return self.real.write_many(readings)

        def registers_at(self, keys):  # pragma: no cover - the point is that it is never called
            raise AssertionError("the common case must not look registers up")

    assert readings_ingest_batch(messages=batch, store=Watched()).stored == 5
