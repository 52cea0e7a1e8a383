"""One contract for every readings store: the SQL store (SQLite, and PostgreSQL when
DATABASE_URL points there) and the Mongo store on a real MongoDB wire server
(mongoeco) give the same answers to the same inputs.

Expected energies come from the pure rule (readings.consumption) applied to the
very readings written, so a store passes only if its in-database aggregation
agrees with the rule.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from readings.consumption import consumption_from_registers
from readings.ingestion.validation import DeviceInfo, parse_telemetry
from readings.stores import get_store
from readings.stores.mongo import MongoReadingStore
from readings.stores.sql import SqlReadingStore
from readings.types import Phase, Reading

KOLKATA = ZoneInfo("Asia/Kolkata")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def store(request, db):
    if request.param == "sql":
        return SqlReadingStore()
    return request.getfixturevalue("mongo_store")


def reading(device_id, timestamp, energy_kwh, *, power_w=1000.0, voltage=230.0, location=""):
    return Reading(
        device_id=device_id,
        timestamp=timestamp,
        voltage=voltage,
        current=round(power_w / voltage, 4),
        power_w=power_w,
        energy_kwh=energy_kwh,
        power_factor=0.95,
        rssi=-61,
        location=location,
    )


def quarter_hourly(device_id, start, count, *, register=100.0, step=0.25, reset_at=None):
    """Readings every 15 minutes with a rising register (optionally reset to 0 at index `reset_at`)."""
    readings = []
    for index in range(count):
        if index == reset_at:
            register = 0.0
        readings.append(
            reading(device_id, start + timedelta(minutes=15 * index), round(register, 3), power_w=500.0 + 10 * index)
        )
        register += step
    return readings


def points(readings):
    return [(item.timestamp, item.energy_kwh) for item in readings]


# --- get_store ------------------------------------------------------------------


def test_get_store_is_sql_without_mongodb_uri(settings):
    settings.MONGODB_URI = ""
    assert isinstance(get_store(), SqlReadingStore)
    assert get_store() is get_store()


@pytest.mark.mongo
def test_get_store_is_mongo_when_mongodb_uri_is_set(mongo_store, mongo_uri, settings):
    assert isinstance(get_store(), MongoReadingStore)
    settings.MONGODB_URI = ""
    assert isinstance(get_store(), SqlReadingStore)


@pytest.mark.mongo
def test_mongo_readings_live_in_a_time_series_collection(mongo_store):
    from readings.stores.mongo_connection import readings_database

    mongo_store.write_many([reading("meter-001", datetime(2025, 1, 1, tzinfo=UTC), 1.0)])
    database = readings_database()
    (info,) = [item for item in database.list_collections() if item["name"] == "readings"]
    assert info["options"]["timeseries"] == {
        "timeField": "timestamp",
        "metaField": "metadata",
        "granularity": "minutes",
    }
    index_keys = [[tuple(part) for part in index["key"]] for index in database["readings"].index_information().values()]
    assert [("metadata.device_id", 1), ("timestamp", 1)] in index_keys
    stored = database["readings"].find_one({})
    assert stored["metadata"] == {"device_id": "meter-001", "location": ""}


# --- writes ---------------------------------------------------------------------


def test_write_many_counts_new_readings_and_ignores_duplicates(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch = quarter_hourly("meter-001", start, 8)
    assert store.write_many(batch) == 8
    # Redelivery of a whole batch, and a batch mixing old and new readings.
    assert store.write_many(batch) == 0
    more = quarter_hourly("meter-001", start + timedelta(hours=1), 8, register=101.0)
    assert store.write_many(more) == 4
    # The same reading twice in one batch is stored once.
    twice = reading("meter-002", start, 5.0)
    assert store.write_many([twice, twice]) == 1
    assert store.write_many([]) == 0
    assert store.count() == 13
    assert store.count("meter-001") == 12


def test_a_large_batch_reads_back_exactly_as_written(store):
    """Every value of every reading, for a batch as large as the consumer writes, in any order."""
    start = datetime(2025, 3, 1, tzinfo=UTC)
    size = 1500 if isinstance(store, SqlReadingStore) else 200  # the Mongo wire server in tests is for small data
    batch = [
        Reading(
            device_id=f"meter-{index % 7:03d}",
            timestamp=start + timedelta(seconds=index * 13, milliseconds=index % 1000),
            voltage=200.0 + index / 1024,
            current=0.1 + index / 4096,
            power_w=-250.5 + index * 1.25,
            energy_kwh=10_000.0 + index / 3,
            power_factor=-0.5 + (index % 100) / 100,
            rssi=-120 + index % 121,
            location="",
        )
        for index in range(size)
    ]
    assert store.write_many(list(reversed(batch))) == size
    newest = {item.device_id: item for item in batch}  # later readings of a meter overwrite earlier ones
    latest = store.latest_many(newest)
    for device_id, sent in newest.items():
        got = latest[device_id]
        assert (got.timestamp, got.voltage, got.current, got.power_w, got.energy_kwh, got.power_factor, got.rssi) == (
            sent.timestamp,
            sent.voltage,
            sent.current,
            sent.power_w,
            sent.energy_kwh,
            sent.power_factor,
            sent.rssi,
        )
    assert store.count() == size


def test_registers_at_answers_the_stored_register_of_each_instant_that_has_one(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    store.write_many(
        [
            reading("meter-001", start, 100.0),
            reading("meter-001", start + timedelta(minutes=15), 100.25),
            reading("meter-002", start, 7.5),
        ]
    )
    # A later, different register at a stored instant changes nothing: a stored reading is never edited.
    assert store.write_many([reading("meter-001", start, 105.0)]) == 0

    found = store.registers_at(
        [
            ("meter-001", start),
            ("meter-001", (start + timedelta(minutes=15, microseconds=400)).astimezone(KOLKATA)),
            ("meter-002", start + timedelta(minutes=15)),  # a meter and an instant each stored, not together
            ("meter-003", start),
        ]
    )

    assert found == {
        ("meter-001", start): Decimal("100.0"),
        ("meter-001", start + timedelta(minutes=15)): Decimal("100.25"),
    }
    assert store.registers_at([]) == {}


def test_registers_at_answers_a_batch_larger_than_one_query(store):
    start = datetime(2025, 2, 1, tzinfo=UTC)
    size = 1200 if isinstance(store, SqlReadingStore) else 120  # the Mongo wire server in tests is for small data
    batch = [reading(f"meter-{index % 7:03d}", start + timedelta(seconds=index), float(index)) for index in range(size)]
    store.write_many(batch)

    found = store.registers_at((item.device_id, item.timestamp) for item in batch)

    assert found == {(item.device_id, item.timestamp): Decimal(repr(item.energy_kwh)) for item in batch}


def test_timestamps_are_stored_to_the_millisecond(store):
    base = datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert store.write_many([reading("meter-001", base, 1.0)]) == 1
    # Within the same millisecond: the same reading.
    assert store.write_many([reading("meter-001", base + timedelta(microseconds=300), 1.0)]) == 0
    assert store.latest("meter-001").timestamp == datetime(2025, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)


def test_a_timestamp_in_another_zone_is_the_same_instant(store):
    instant = datetime(2025, 1, 1, 4, 30, tzinfo=UTC)
    assert store.write_many([reading("meter-001", instant, 1.0)]) == 1
    assert store.write_many([reading("meter-001", instant.astimezone(KOLKATA), 1.0)]) == 0


# --- single rows ------------------------------------------------------------------


def test_latest_is_the_newest_by_timestamp_not_by_arrival(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    newest = reading("meter-001", start + timedelta(hours=2), 12.5, power_w=321.5, voltage=229.5, location="Flat 4B")
    store.write_many([newest])
    store.write_many([reading("meter-001", start, 10.0), reading("meter-001", start + timedelta(hours=1), 11.0)])
    latest = store.latest("meter-001")
    expected_location = "Flat 4B" if store.name == "mongo" else ""  # the SQL store keeps no location
    assert latest == Reading(
        device_id="meter-001",
        timestamp=start + timedelta(hours=2),
        voltage=229.5,
        current=newest.current,
        power_w=321.5,
        energy_kwh=12.5,
        power_factor=0.95,
        rssi=-61,
        location=expected_location,
    )
    assert latest.timestamp.tzinfo is not None
    assert store.latest("meter-unknown") is None


def test_latest_many_answers_each_meter_that_has_readings(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    store.write_many(quarter_hourly("meter-001", start, 4) + quarter_hourly("meter-002", start, 2, register=7.0))
    latest = store.latest_many(["meter-001", "meter-002", "meter-003"])
    assert set(latest) == {"meter-001", "meter-002"}
    assert latest["meter-001"].timestamp == start + timedelta(minutes=45)
    assert latest["meter-002"].energy_kwh == 7.25
    assert store.latest_many([]) == {}


def test_count_by_meter_and_since(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    store.write_many(quarter_hourly("meter-001", start, 10) + quarter_hourly("meter-002", start, 3))
    assert store.count() == 13
    assert store.count("meter-002") == 3
    assert store.count(since=start + timedelta(minutes=30)) == 9
    assert store.count("meter-001", since=start + timedelta(minutes=30)) == 8


# --- series -----------------------------------------------------------------------


def test_raw_series_is_half_open_ordered_limited_and_in_the_zone(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    store.write_many(list(reversed(quarter_hourly("meter-001", start, 10))))
    rows = store.series(
        "meter-001", start=start + timedelta(minutes=15), end=start + timedelta(hours=2), agg="raw", tz=KOLKATA
    )
    assert [row["timestamp"] for row in rows] == [start + timedelta(minutes=15 * i) for i in range(1, 8)]
    assert rows[0]["timestamp"].utcoffset() == timedelta(hours=5, minutes=30)
    assert rows[0]["energy_kwh"] == 100.25
    assert set(rows[0]) == {
        "timestamp",
        "voltage",
        "current",
        "power_w",
        "energy_kwh",
        "power_factor",
        "rssi",
        "energy_export_kwh",
        "phases",
        "registers",
    }
    limited = store.series("meter-001", start=start, end=start + timedelta(days=1), agg="raw", tz="UTC", limit=3)
    assert len(limited) == 3


def test_raw_chunks_walk_the_range_oldest_first_in_bounded_lists(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    written = quarter_hourly("meter-001", start, 12)
    store.write_many(list(reversed(written)) + quarter_hourly("meter-002", start, 12))
    chunks = list(
        store.raw_chunks("meter-001", start=start + timedelta(minutes=15), end=start + timedelta(hours=3), chunk_size=4)
    )
    assert [len(chunk) for chunk in chunks] == [4, 4, 3]  # [start + 15 min, start + 3 h): eleven readings
    flat = [item for chunk in chunks for item in chunk]
    assert [item.timestamp for item in flat] == [item.timestamp for item in written[1:12]]
    assert flat[0] == written[1]
    assert {item.device_id for item in flat} == {"meter-001"}
    assert list(store.raw_chunks("meter-003", start=start, end=start + timedelta(days=1), chunk_size=4)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        list(store.raw_chunks("meter-001", start=start.replace(tzinfo=None), end=start, chunk_size=4))


def test_day_buckets_split_at_kolkata_midnight_with_energy_per_bucket(store):
    # 21:35 IST on 1 March to 02:35 IST on 2 March, a reading every 15 minutes.
    start = datetime(2025, 3, 1, 16, 5, tzinfo=UTC)
    readings = quarter_hourly("meter-001", start, 21)
    store.write_many(readings)
    range_start, range_end = datetime(2025, 3, 1, tzinfo=KOLKATA), datetime(2025, 3, 3, tzinfo=KOLKATA)
    rows = store.series("meter-001", start=range_start, end=range_end, agg="day", tz=KOLKATA)
    assert [row["bucket"] for row in rows] == [
        datetime(2025, 3, 1, tzinfo=KOLKATA),
        datetime(2025, 3, 2, tzinfo=KOLKATA),
    ]
    assert [row["bucket"].utcoffset() for row in rows] == [timedelta(hours=5, minutes=30)] * 2
    assert [row["count"] for row in rows] == [10, 11]  # 21:35..23:50 and 00:05..02:35 IST
    # Each bucket's energy is the rule over that local day; the step across midnight is split.
    expected = [
        consumption_from_registers("meter-001", points(readings), range_start, datetime(2025, 3, 2, tzinfo=KOLKATA)),
        consumption_from_registers("meter-001", points(readings), datetime(2025, 3, 2, tzinfo=KOLKATA), range_end),
    ]
    assert [row["energy_kwh"] for row in rows] == [item.energy_kwh for item in expected]
    # 23:50 -> 00:05 is split 10:5 minutes across midnight.
    assert [row["energy_kwh"] for row in rows] == [Decimal("2.417"), Decimal("2.583")]
    assert (
        sum(row["energy_kwh"] for row in rows)
        == store.consumption("meter-001", start=range_start, end=range_end).energy_kwh
    )
    assert rows[1]["power_w_avg"] == pytest.approx(sum(500.0 + 10 * i for i in range(10, 21)) / 11)
    assert rows[1]["power_w_max"] == 700.0
    assert rows[1]["power_w_min"] == 600.0
    assert rows[0]["voltage_avg"] == pytest.approx(230.0)
    assert rows[0]["power_factor_avg"] == pytest.approx(0.95)
    assert rows[0]["current_avg"] == pytest.approx(sum(round((500.0 + 10 * i) / 230.0, 4) for i in range(10)) / 10)


def test_hour_buckets_start_on_the_local_hour_and_clip_to_the_range(store):
    start = datetime(2025, 3, 1, 16, 0, tzinfo=UTC)  # 21:30 IST
    readings = quarter_hourly("meter-001", start, 21)
    store.write_many(readings)
    range_start, range_end = start + timedelta(minutes=40), start + timedelta(hours=3, minutes=10)
    rows = store.series("meter-001", start=range_start, end=range_end, agg="hour", tz="Asia/Kolkata")
    # 22:10 to 00:40 IST: buckets 22:00 (clipped), 23:00 and 00:00 (clipped).
    labels = [datetime(2025, 3, 1, 22, tzinfo=KOLKATA) + timedelta(hours=i) for i in range(3)]
    assert [row["bucket"] for row in rows] == labels
    assert [row["count"] for row in rows] == [3, 4, 3]
    for row in rows:
        bucket_start = max(row["bucket"], range_start)
        bucket_end = min(row["bucket"] + timedelta(hours=1), range_end)
        expected = consumption_from_registers("meter-001", points(readings), bucket_start, bucket_end)
        assert row["energy_kwh"] == expected.energy_kwh, row["bucket"]
    assert sum(row["energy_kwh"] for row in rows) == Decimal("2.500")  # 150 minutes at 1 kWh/h


def test_minute_week_and_month_buckets(store):
    start = datetime(2025, 1, 30, 18, 0, tzinfo=UTC)  # 23:30 IST on Thursday 30 January
    readings = quarter_hourly("meter-001", start, 24 * 4 * 4, step=0.1)  # four days
    store.write_many(readings[::4])  # hourly, to keep the Mongo side small
    hourly = readings[::4]
    range_end = start + timedelta(days=4)
    months = store.series("meter-001", start=start, end=range_end, agg="month", tz=KOLKATA)
    assert [row["bucket"] for row in months] == [
        datetime(2025, 1, 1, tzinfo=KOLKATA),
        datetime(2025, 2, 1, tzinfo=KOLKATA),
    ]
    assert [row["count"] for row in months] == [25, 71]  # 30 Jan 23:30 and all of 31 Jan are January
    weeks = store.series("meter-001", start=start, end=range_end, agg="week", tz=KOLKATA)
    # Monday 27 January and Monday 3 February, local time.
    assert [row["bucket"] for row in weeks] == [
        datetime(2025, 1, 27, tzinfo=KOLKATA),
        datetime(2025, 2, 3, tzinfo=KOLKATA),
    ]
    assert sum(row["count"] for row in weeks) == 96
    for rows in (months, weeks):
        for row, following in zip(rows, rows[1:] + [None], strict=True):
            bucket_end = following["bucket"] if following else range_end
            expected = consumption_from_registers("meter-001", points(hourly), max(row["bucket"], start), bucket_end)
            assert row["energy_kwh"] == expected.energy_kwh, row["bucket"]
    minutes = store.series(
        "meter-001", start=start, end=start + timedelta(hours=2, minutes=30), agg="minute", tz=KOLKATA
    )
    assert [row["bucket"] for row in minutes] == [start.astimezone(KOLKATA) + timedelta(hours=i) for i in range(3)]
    assert {row["count"] for row in minutes} == {1}


def test_day_buckets_follow_a_daylight_saving_change(store):
    # London springs forward at 01:00 UTC on 30 March 2025: that local day lasts 23 hours.
    start = datetime(2025, 3, 29, tzinfo=UTC)
    readings = [reading("meter-001", start + timedelta(hours=i), 10.0 + i) for i in range(48)]
    store.write_many(readings)
    rows = store.series("meter-001", start=start, end=start + timedelta(days=2), agg="day", tz=LONDON)
    assert [row["bucket"] for row in rows] == [datetime(2025, 3, day, tzinfo=LONDON) for day in (29, 30, 31)]
    assert [row["bucket"].utcoffset() for row in rows] == [timedelta(0), timedelta(0), timedelta(hours=1)]
    assert [row["count"] for row in rows] == [24, 23, 1]
    assert [row["energy_kwh"] for row in rows] == [Decimal("24.000"), Decimal("23.000"), Decimal("0.000")]
    hours = store.series("meter-001", start=start, end=start + timedelta(days=2), agg="hour", tz=LONDON)
    assert len(hours) == 48
    assert hours[26]["bucket"] == datetime(2025, 3, 30, 3, tzinfo=LONDON)  # 02:00 local never happened


def test_a_register_reset_inside_and_across_buckets(store):
    start = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)  # 23:30 IST
    readings = quarter_hourly("meter-001", start, 12, register=50.0, reset_at=2) + quarter_hourly(
        "meter-001", start + timedelta(hours=3), 4, register=0.0, reset_at=None
    )
    # A replaced meter: the register drops from 0.5+... to 0 at 02:30 IST, then rises again.
    store.write_many(readings)
    range_start, range_end = datetime(2025, 3, 1, 23, tzinfo=KOLKATA), datetime(2025, 3, 2, 3, 30, tzinfo=KOLKATA)
    rows = store.series("meter-001", start=range_start, end=range_end, agg="hour", tz=KOLKATA)
    for row in rows:
        bucket_start = max(row["bucket"], range_start)
        bucket_end = min(row["bucket"] + timedelta(hours=1), range_end)
        expected = consumption_from_registers("meter-001", points(readings), bucket_start, bucket_end)
        assert row["energy_kwh"] == expected.energy_kwh, row["bucket"]
    whole = store.consumption("meter-001", start=range_start, end=range_end)
    expected = consumption_from_registers("meter-001", points(readings), range_start, range_end)
    assert whole == expected
    assert whole.resets == 2


def test_series_of_a_meter_without_readings_is_empty(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for agg in ("raw", "hour", "month"):
        assert store.series("meter-001", start=start, end=start + timedelta(days=1), agg=agg, tz=KOLKATA) == []


def test_series_refuses_unknown_aggregations_and_naive_ranges(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="Unknown aggregation"):
        store.series("meter-001", start=start, end=start + timedelta(days=1), agg="fortnight", tz=KOLKATA)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.series("meter-001", start=datetime(2025, 1, 1), end=start, agg="hour", tz=KOLKATA)  # noqa: DTZ001


# --- consumption ------------------------------------------------------------------


def test_consumption_interpolates_at_the_boundaries_like_the_rule(store):
    start = datetime(2025, 2, 28, 18, 7, tzinfo=UTC)
    readings = quarter_hourly("meter-001", start, 40, register=1234.5, step=0.125)
    store.write_many(readings)
    period_start, period_end = datetime(2025, 3, 1, tzinfo=KOLKATA), datetime(2025, 3, 1, 8, tzinfo=KOLKATA)
    result = store.consumption("meter-001", start=period_start, end=period_end)
    assert result == consumption_from_registers("meter-001", points(readings), period_start, period_end)
    assert result.energy_kwh == Decimal("4.000")  # 8 hours at 0.5 kWh/h, both boundaries interpolated
    assert result.start_register is not None
    assert result.has_readings


def test_consumption_many_answers_every_meter_in_one_go(store, django_assert_max_num_queries):
    start = datetime(2025, 3, 1, tzinfo=KOLKATA)
    end = start + timedelta(hours=6)
    readings = {
        "meter-a": quarter_hourly("meter-a", start - timedelta(minutes=20), 30, register=10.0),
        "meter-b": quarter_hourly("meter-b", start + timedelta(hours=1), 8, register=500.0, reset_at=4),
        "meter-c": quarter_hourly("meter-c", start - timedelta(days=2), 3, register=1.0),  # silent in the period
    }
    store.write_many([item for batch in readings.values() for item in batch])
    wanted = ["meter-a", "meter-b", "meter-c", "meter-d"]
    if store.name == "sql":
        with django_assert_max_num_queries(6):
            result = store.consumption_many(wanted, start=start, end=end)
    else:
        result = store.consumption_many(wanted, start=start, end=end)
    assert set(result) == set(wanted)
    for device_id, batch in readings.items():
        assert result[device_id] == consumption_from_registers(device_id, points(batch), start, end), device_id
    assert result["meter-b"].resets == 1
    assert not result["meter-c"].has_readings
    assert result["meter-d"].energy_kwh == Decimal("0.000")
    assert result["meter-d"].start_register is None


def test_consumption_over_a_gap_shares_the_step_by_time(store):
    base = datetime(2025, 3, 1, tzinfo=UTC)
    store.write_many([reading("meter-001", base, 100.0), reading("meter-001", base + timedelta(days=4), 140.0)])
    result = store.consumption("meter-001", start=base + timedelta(days=1), end=base + timedelta(days=2))
    assert result.energy_kwh == Decimal("10.000")
    assert result.reading_count == 0


# --- SQL store specifics ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sql_series_outside_a_transaction_reads_one_snapshot():
    """Outside any transaction the store opens its own (REPEATABLE READ on PostgreSQL)."""
    store = SqlReadingStore()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    readings = quarter_hourly("meter-001", start, 12)
    store.write_many(readings)
    rows = store.series("meter-001", start=start, end=start + timedelta(hours=3), agg="hour", tz="UTC")
    assert [row["count"] for row in rows] == [4, 4, 4]
    assert store.consumption("meter-001", start=start, end=start + timedelta(hours=3)).energy_kwh == Decimal("2.750")


def test_sql_series_retries_when_a_write_lands_between_its_two_statements(db):
    """A reading stored between the grouped statement and the register scan makes them
    disagree; the store notices and reads again instead of mixing two states."""
    from django.db import connection

    store = SqlReadingStore()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    readings = quarter_hourly("meter-001", start, 8)
    store.write_many(readings[:6])
    grouped_statements = []

    def late_writer(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "GROUP BY" in sql:
            grouped_statements.append(sql)
            if len(grouped_statements) == 1:
                with connection.execute_wrapper(lambda execute, *args: execute(*args)):
                    SqlReadingStore().write_many(readings[6:])
        return result

    with connection.execute_wrapper(late_writer):
        rows = store.series("meter-001", start=start, end=start + timedelta(hours=2), agg="hour", tz="UTC")
    assert len(grouped_statements) == 2  # read once, noticed the change, read again
    # The answer describes one state of the table, the one it holds now. (On this single
    # connection the late write shares the aborted read's savepoint and is undone with it.)
    stored = store.series("meter-001", start=start, end=start + timedelta(hours=2), agg="raw", tz="UTC")
    assert sum(row["count"] for row in rows) == len(stored)
    now_stored = [(row["timestamp"], row["energy_kwh"]) for row in stored]
    for row in rows:
        bucket_end = row["bucket"] + timedelta(hours=1)
        expected = consumption_from_registers("meter-001", now_stored, row["bucket"], bucket_end)
        assert row["energy_kwh"] == expected.energy_kwh


# --- Reading quality (readings.quality): the same classification in every store ----------------

QUALITY_START = datetime(2025, 1, 1, tzinfo=UTC)


def twelve_hourly(device_id, registers, *, start=QUALITY_START):
    return [reading(device_id, start + timedelta(hours=12 * index), value) for index, value in enumerate(registers)]


def quality_of(store, device_id, written, *, end, limits=None):
    from readings.quality import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
    found = store.consumption_many([device_id], start=QUALITY_START, end=end, limits={device_id: limits})[device_id]
    expected = consumption_from_registers(device_id, points(written), QUALITY_START, end, limits)
    assert found == expected
    return found


@pytest.mark.parametrize("glitch", [0.0, 99999.0])
def test_a_single_glitch_is_excluded_and_the_trend_continues(store, glitch):
    written = twelve_hourly("meter-q", [10000.0, 10050.0, glitch, 10050.2, 10100.0, 10101.0])
    store.write_many(written)
    result = quality_of(store, "meter-q", written, end=QUALITY_START + timedelta(hours=48))
    assert result.energy_kwh == Decimal("100.000")
    assert (result.glitches, result.implausible, result.resets) == (1, 0, 0)
    [excluded] = result.excluded
    assert (excluded.timestamp, excluded.register, excluded.kind) == (
        QUALITY_START + timedelta(hours=24),
        Decimal(str(glitch)),
        "glitch",
    )
    assert "the next reading returns to 10050.200" in excluded.reason
    assert result.closing_confirmed
    assert result.closing_at == QUALITY_START + timedelta(hours=48)


def test_a_drop_the_readings_continue_from_is_a_reset(store):
    written = twelve_hourly("meter-q", [10000.0, 10050.0, 2.0, 30.0, 60.0])
    store.write_many(written)
    result = quality_of(store, "meter-q", written, end=QUALITY_START + timedelta(hours=60))
    assert result.energy_kwh == Decimal("110.000")  # 50 + 2 + 28 + 30
    assert (result.resets, result.glitches, result.excluded) == (1, 0, ())


def test_a_register_wrapping_past_its_digits_counts_the_wrap(store):
    from readings.quality import DEFAULT_LIMITS, Limits

    written = twelve_hourly("meter-q", [999990.0, 999999.5, 0.4, 10.4])
    store.write_many(written)
    six_digits = Limits(DEFAULT_LIMITS.max_kw, 6)
    result = quality_of(store, "meter-q", written, end=QUALITY_START + timedelta(hours=48), limits=six_digits)
    assert result.energy_kwh == Decimal("20.400")  # 9.5 + 0.9 + 10
    assert (result.rollovers, result.resets) == (1, 0)


def test_an_implausible_step_counts_nothing_and_later_readings_continue_from_it(store):
    # 5 kW sanctioned x 1.5: at most 7.5 kWh in an hour.
    written = [
        reading("meter-q", QUALITY_START + timedelta(hours=index), value)
        for index, value in enumerate([100.0, 101.0, 200.0, 201.0, 202.5])
    ]
    store.write_many(written)
    result = quality_of(store, "meter-q", written, end=QUALITY_START + timedelta(hours=4, minutes=1))
    assert result.energy_kwh == Decimal("3.500")
    assert result.implausible == 1
    assert [item.kind for item in result.excluded] == ["implausible"]


def test_a_drop_at_the_last_reading_is_unconfirmed_until_the_next_one(store):
    written = twelve_hourly("meter-q", [100.0, 110.0, 120.0, 0.0])
    store.write_many(written)
    end = QUALITY_START + timedelta(hours=36)
    result = quality_of(store, "meter-q", written, end=end)
    assert result.energy_kwh == Decimal("20.000")
    assert not result.closing_confirmed
    assert result.unconfirmed.kind == "unconfirmed"
    assert result.unconfirmed.register == Decimal("0.0")
    later = twelve_hourly("meter-q", [5.0], start=QUALITY_START + timedelta(hours=48))
    store.write_many(later)
    confirmed = quality_of(store, "meter-q", written + later, end=end)
    assert confirmed.closing_confirmed
    assert confirmed.resets == 1
    assert confirmed.unconfirmed is None


@pytest.mark.parametrize("glitch", [0.0, 99999.0])
def test_series_buckets_leave_a_glitch_out_as_consumption_does(store, glitch):
    written = twelve_hourly("meter-q", [10000.0, 10050.0, glitch, 10050.2, 10100.0, 10101.0])
    store.write_many(written)
    end = QUALITY_START + timedelta(hours=60)
    days = store.series("meter-q", start=QUALITY_START, end=end, agg="day", tz=UTC)
    hours = store.series("meter-q", start=QUALITY_START, end=end, agg="hour", tz=UTC)
    # The glitch at 24:00 is skipped: the 0.2 kWh step from 12:00 to 36:00 is shared by both days,
    # and no day counts the 10050 kWh a reset would.
    assert [row["energy_kwh"] for row in days] == [Decimal("50.100"), Decimal("49.900"), Decimal("1.000")]
    # Hour buckets (only those holding a reading): none carries the glitch's 10050 kWh.
    assert max(row["energy_kwh"] for row in hours) < Decimal("50")
    whole = quality_of(store, "meter-q", written, end=end)
    assert sum(row["energy_kwh"] for row in days) == whole.energy_kwh


# --- readings of off-the-shelf meters (docs/ingestion.md#payload-formats) ----------


def test_a_reading_without_voltage_current_pf_or_rssi_and_with_phases_export_and_registers_reads_back(store):
    at = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    three_phase = Reading(
        device_id="meter-3p",
        timestamp=at,
        voltage=None,
        current=None,
        power_w=715.5,
        energy_kwh=3580.245,
        power_factor=None,
        rssi=None,
        energy_export_kwh=12.345,
        phases=(
            Phase("L1", voltage=236.1, current=4.029, power_w=951.2, power_factor=1.0),
            Phase("L2", voltage=236.2, power_w=-951.1),
            Phase("L3", current=3.03),
        ),
        registers=(("delivered_1", 1234.567), ("delivered_2", 2345.678)),
    )
    register_only = Reading("meter-3p", at + timedelta(minutes=1), None, None, None, 3580.5, None, None)
    assert store.write_many([three_phase, register_only]) == 2

    assert store.latest("meter-3p") == register_only
    rows = store.series("meter-3p", start=at, end=at + timedelta(hours=1), agg="raw", tz=UTC)
    assert rows[0]["phases"] == {
        "L1": {"voltage": 236.1, "current": 4.029, "power_w": 951.2, "power_factor": 1.0},
        "L2": {"voltage": 236.2, "power_w": -951.1},
        "L3": {"current": 3.03},
    }
    assert rows[0]["registers"] == {"delivered_1": 1234.567, "delivered_2": 2345.678}
    assert rows[0]["energy_export_kwh"] == 12.345
    assert (rows[1]["voltage"], rows[1]["power_w"], rows[1]["rssi"], rows[1]["phases"]) == (None, None, None, None)
    (bucket,) = store.series("meter-3p", start=at, end=at + timedelta(hours=1), agg="hour", tz=UTC)
    assert bucket["power_w_avg"] == 715.5  # the reading without power is left out of the averages
    assert bucket["voltage_avg"] is None
    assert bucket["count"] == 2


def test_a_tasmota_energy_reset_is_a_register_reset_not_consumption(store):
    """`EnergyReset` / `EnergyTotal 0` sets a Tasmota's Total back to zero: the readings mapped from
    its SENSOR messages count what was used before and after, and nothing for the drop."""
    received = QUALITY_START + timedelta(hours=60)
    written = []
    for index, total in enumerate([41.2, 41.9, 0.0, 0.4, 1.1]):
        local = (QUALITY_START + timedelta(hours=12 * index)).astimezone(KOLKATA).replace(tzinfo=None)
        payload = {"Time": local.isoformat(), "ENERGY": {"Total": total, "Power": 120, "Voltage": 231}}
        mapped = parse_telemetry(
            topic="tele/meter-t/SENSOR",
            payload=json.dumps(payload),
            received_at=received,
            device_lookup={"meter-t": DeviceInfo("meter-t", payload_format="tasmota")}.get,
            local_zone=KOLKATA,
        )
        assert isinstance(mapped, Reading), mapped
        written.append(mapped)
    store.write_many(written)
    result = quality_of(store, "meter-t", written, end=received)
    assert result.energy_kwh == Decimal("1.800")  # 0.7 before the reset, 1.1 after it
    assert result.resets == 1
