"""The SQL readings store: the SqlReading model on the default database.

Used when MONGODB_URI is unset (SQLite for the embedded run, PostgreSQL in production).
Writes are idempotent, statements are bounded per 500 meters and every value is a bound
parameter. The statements and why they take this shape: docs/readings.md#the-sql-store.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from itertools import batched
from operator import itemgetter

from django.db import connection, transaction
from django.utils import timezone

from readings.consumption import (
    RegisterPoint,
    consumption_from_run,
    needs_points,
    run_from_registers,
    to_kwh,
    with_points,
)
from readings.models import SqlReading
from readings.quality import DEFAULT_LIMITS, Limits
from readings.stores.base import ReadingStore, check_agg, check_range
from readings.stores.buckets import (
    UNIT_SECONDS,
    BucketGroup,
    as_utc,
    build_series,
    key_from_seconds,
    key_seconds,
    month_starts,
    offset_periods,
    raw_row,
    stored_instant,
    zone,
)
from readings.types import Consumption, Reading, phases_as_dict, phases_from_dict

CHUNK = 500  # meters per statement
READING_COLUMNS = (
    "device_id",
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
)


def _insert_sql() -> str:
    """One row per execution: SQLite, where executemany of a prepared statement is the fast way."""
    quote = connection.ops.quote_name
    columns = (*READING_COLUMNS, "received_at")
    # Identifiers come from the model and are quoted by the backend; values are placeholders.
    return (
        f"INSERT INTO {quote(SqlReading._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('device_id')}, {quote('timestamp')}) DO NOTHING"
    )


# The PostgreSQL type of each column in READING_COLUMNS, for the array form below.
_POSTGRES_ARRAY_TYPES = (
    "varchar",
    "timestamptz",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "int4",
    "float8",
    "jsonb",
    "jsonb",
)


def _insert_unnest_sql() -> str:
    """The whole batch in one statement: one array per column, unnested into rows (PostgreSQL).

    One statement instead of one execution per row: in-process this took the batch
    insert from about 16 to 6 microseconds of CPU per reading (bench/ingest.py).
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in (*READING_COLUMNS, "received_at"))
    arrays = ", ".join(f"%s::{kind}[]" for kind in _POSTGRES_ARRAY_TYPES)
    return (
        f"INSERT INTO {quote(SqlReading._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT batch.*, %s FROM unnest({arrays}) AS batch "
        f"ON CONFLICT ({quote('device_id')}, {quote('timestamp')}) DO NOTHING"
    )


def _measurements(reading: Reading) -> tuple:
    """A reading's values after its key, in READING_COLUMNS order."""
    return (
        reading.voltage,
        reading.current,
        reading.power_w,
        reading.energy_kwh,
        reading.power_factor,
        reading.rssi,
        reading.energy_export_kwh,
        _json(phases_as_dict(reading.phases)),
        _json(dict(reading.registers) or None),
    )


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _from_json(value) -> dict | None:
    """A JSON column as read: decoded already (PostgreSQL, the ORM) or text (SQLite, a raw cursor)."""
    return json.loads(value) if isinstance(value, str) else value


class InconsistentRead(RuntimeError):
    """The grouped and the streamed statement saw different rows (a concurrent write)."""


class SqlReadingStore(ReadingStore):
    name = "sql"

    # --- writes ---------------------------------------------------------------

    def write_many(self, readings: Sequence[Reading]) -> int:
        unique: dict[tuple[str, datetime], Reading] = {}
        for reading in readings:
            unique.setdefault((reading.device_id, stored_instant(reading.timestamp)), reading)
        if not unique:
            return 0
        # In key order, so two consumers storing the same redelivered readings take
        # their row locks in the same order and never deadlock.
        keyed = sorted(unique.items(), key=itemgetter(0))
        now = timezone.now()
        if connection.vendor == "postgresql":
            rows = [(*key, *_measurements(reading)) for key, reading in keyed]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_insert_unnest_sql(), [now, *map(list, zip(*rows, strict=True))])
                return max(cursor.rowcount, 0)
        # SQLite: one prepared INSERT run over the rows. The ORM's bulk_create spent about
        # twice as long building its statement as the database spent storing the rows,
        # and this is the consumer's hot path. The driver sums the rows each execution
        # wrote, so conflicts (QoS 1 redeliveries) are not counted.
        adapt = connection.ops.adapt_datetimefield_value
        received_at = adapt(now)
        rows = [
            (device_id, adapt(timestamp), *_measurements(reading), received_at)
            for (device_id, timestamp), reading in keyed
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(_insert_sql(), rows)
            return max(cursor.rowcount, 0)

    def registers_at(self, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], Decimal]:
        wanted = sorted({(device_id, stored_instant(instant)) for device_id, instant in keys})
        found: dict[tuple[str, datetime], Decimal] = {}
        for index in range(0, len(wanted), CHUNK):
            part = wanted[index : index + CHUNK]
            # One probe of the (device_id, timestamp) unique index per key; rows come back by
            # position in `part`, so no timestamp has to survive a round trip through the driver.
            values = ", ".join(["(%s, %s, %s)"] * len(part))
            sql = (
                f"WITH wanted(position, device_id, instant) AS (VALUES {values}) "  # noqa: S608
                f"SELECT wanted.position, r.energy_kwh FROM wanted JOIN {_table()} r "
                f'ON r.device_id = wanted.device_id AND r."timestamp" = wanted.instant'
            )
            params = [
                value
                for position, (device_id, instant) in enumerate(part)
                for value in (position, device_id, _ts(instant))
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                for position, energy_kwh in cursor.fetchall():
                    found[part[position]] = to_kwh(energy_kwh)
        return found

    # --- single rows ------------------------------------------------------------

    def latest(self, device_id: str) -> Reading | None:
        row = (
            SqlReading.objects.filter(device_id=device_id).order_by("-timestamp").values_list(*READING_COLUMNS).first()
        )
        return _reading(row) if row else None

    def latest_many(self, device_ids: Iterable[str]) -> dict[str, Reading]:
        found: dict[str, Reading] = {}
        for chunk in _chunks(sorted(set(device_ids))):
            sql, params = _edge_rows_sql(chunk, columns=READING_COLUMNS, newest_before=None)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                for row in cursor.fetchall():
                    found[row[0]] = _reading(row)
        return found

    def count(self, device_id: str | None = None, *, since: datetime | None = None) -> int:
        readings = SqlReading.objects.all()
        if device_id is not None:
            readings = readings.filter(device_id=device_id)
        if since is not None:
            readings = readings.filter(timestamp__gte=since)
        return readings.count()

    # --- aggregates -------------------------------------------------------------

    def series(self, device_id, *, start, end, agg, tz, limit=None, limits=None) -> list[dict]:
        check_range(start, end)
        check_agg(agg)
        tz = zone(tz)
        if agg == "raw":
            rows = (
                SqlReading.objects.filter(device_id=device_id, timestamp__gte=start, timestamp__lt=end)
                .order_by("timestamp")
                .values_list(*READING_COLUMNS)
            )
            if limit is not None:
                rows = rows[:limit]
            return [raw_row(_reading(row), tz) for row in rows]
        key_sql, key_params = bucket_key_sql(agg, tz, start, end)
        groups = _runs([device_id], start, end, key_sql=key_sql, key_params=key_params, stats=True)
        before, after = _neighbours([device_id], start, end).get(device_id, (None, None))
        return build_series(
            device_id,
            agg=agg,
            tz=tz,
            start=start,
            end=end,
            groups=groups.get(device_id, []),
            before=before,
            after=after,
            limits=limits,
            points=lambda: [
                RegisterPoint(as_utc(timestamp), to_kwh(energy))
                for timestamp, energy in SqlReading.objects.filter(
                    device_id=device_id, timestamp__gte=start, timestamp__lt=end
                )
                .order_by("timestamp")
                .values_list("timestamp", "energy_kwh")
                .iterator(chunk_size=20_000)
            ],
        )

    def raw_chunks(self, device_id, *, start, end, chunk_size) -> Iterator[list[Reading]]:
        check_range(start, end)
        rows = (
            SqlReading.objects.filter(device_id=device_id, timestamp__gte=start, timestamp__lt=end)
            .order_by("timestamp")
            .values_list(*READING_COLUMNS)
            .iterator(chunk_size=chunk_size)
        )
        for chunk in batched(rows, chunk_size, strict=False):
            yield [_reading(row) for row in chunk]

    def consumption_many(self, device_ids, *, start, end, limits=None) -> dict[str, Consumption]:
        check_range(start, end)
        device_ids = sorted(set(device_ids))
        limits = limits or {}
        result = {}
        for chunk in _chunks(device_ids):
            # The neighbours first: whether a run needs its points depends on its edges.
            neighbours = _neighbours(chunk, start, end, following=True)
            classify = _Classify(neighbours, limits)
            runs = _runs(chunk, start, end, key_sql=None, key_params=[], stats=False, classify=classify)
            for device_id in chunk:
                groups = runs.get(device_id)
                before, after, following = neighbours[device_id]
                result[device_id] = consumption_from_run(
                    device_id,
                    start=start,
                    end=end,
                    before=before,
                    run=groups[0].run if groups else None,
                    after=after,
                    following=following,
                    limits=limits.get(device_id, DEFAULT_LIMITS),
                )
        return result


class _Classify:
    """Builds a meter's run from its registers and instants, keeping the points only when
    the reading-quality walk needs them (readings.quality)."""

    def __init__(self, neighbours: dict, limits: dict[str, Limits]) -> None:
        self._neighbours = neighbours
        self._limits = limits

    def __call__(self, device_id: str, rows: list, *, first_at: datetime, last_at: datetime):
        values = list(map(itemgetter(0), rows))
        epochs = list(map(itemgetter(1), rows))
        limits = self._limits.get(device_id, DEFAULT_LIMITS)
        run = run_from_registers(values, first_at=first_at, last_at=last_at, epochs=epochs, limits=limits)
        before, after, _ = self._neighbours.get(device_id, (None, None, None))
        if needs_points(before, run, after, limits):
            run = with_points(run, epochs, values)
        return run


# --- SQL building blocks --------------------------------------------------------


def _table() -> str:
    return connection.ops.quote_name(SqlReading._meta.db_table)


def _ts(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for index in range(0, len(items), CHUNK):
        yield list(items[index : index + CHUNK])


def _reading(row) -> Reading:
    device_id, timestamp, voltage, current, power_w, energy_kwh, power_factor, rssi, export, phases, registers = row
    return Reading(
        device_id=device_id,
        timestamp=as_utc(timestamp),
        voltage=voltage,
        current=current,
        power_w=power_w,
        energy_kwh=energy_kwh,
        power_factor=power_factor,
        rssi=rssi,
        energy_export_kwh=export,
        phases=phases_from_dict(_from_json(phases)),
        registers=tuple((_from_json(registers) or {}).items()),
    )


def _sqlite_epoch() -> str:
    if connection.Database.sqlite_version_info >= (3, 38, 0):
        return 'unixepoch("timestamp")'
    return "CAST(strftime('%%s', \"timestamp\") AS INTEGER)"


def bucket_key_sql(agg: str, tz, start: datetime, end: datetime) -> tuple[str, list]:
    """SQL for a reading's bucket key: its bucket's wall-clock start as seconds since 1970."""
    if connection.vendor == "postgresql":
        return (
            'CAST(EXTRACT(EPOCH FROM date_trunc(%s, "timestamp" AT TIME ZONE %s)) AS BIGINT)',
            [agg, tz.key],
        )
    if connection.vendor != "sqlite":
        raise NotImplementedError(f"The SQL readings store supports SQLite and PostgreSQL, not {connection.vendor}.")
    epoch = _sqlite_epoch()
    if agg == "month":
        # Few months per range: compare against each local month start (exact across offset changes).
        starts = month_starts(start, end, tz)
        params: list = []
        branches = []
        for (key, _), (_, following) in zip(starts, starts[1:], strict=False):
            branches.append('WHEN "timestamp" < %s THEN %s')
            params += [_ts(following), key_seconds(key)]
        if not branches:
            return "%s", [key_seconds(starts[-1][0])]
        return f"CASE {' '.join(branches)} ELSE %s END", [*params, key_seconds(starts[-1][0])]

    def truncated(offset: int) -> str:
        local = f"({epoch} + {int(offset)})"
        if agg == "week":  # 1970-01-01 was a Thursday; weeks start on Monday
            return f"(({local} / 86400) - ((({local} / 86400) + 3) % 7)) * 86400"
        size = UNIT_SECONDS[agg]
        return f"({local} / {size}) * {size}"

    periods = offset_periods(start, end, tz)
    if len(periods) == 1:
        return truncated(periods[0][1]), []
    branches, params = [], []
    for until, offset in periods[:-1]:
        branches.append(f'WHEN "timestamp" < %s THEN {truncated(offset)}')
        params.append(_ts(until))
    return f"CASE {' '.join(branches)} ELSE {truncated(periods[-1][1])} END", params


def _epoch_sql() -> str:
    """A reading's instant as float seconds since 1970 (cheap to stream, unlike datetimes)."""
    if connection.vendor == "postgresql":
        return 'CAST(EXTRACT(EPOCH FROM "timestamp") AS DOUBLE PRECISION)'
    return '(julianday("timestamp") - 2440587.5) * 86400.0'


def _runs(
    device_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    key_sql: str | None,
    key_params: list,
    stats: bool,
    classify=None,
) -> dict[str, list[BucketGroup]]:
    """Per meter (and bucket), the register run and, with `stats`, the averages.

    Two statements over the same rows: a GROUP BY (counts, first/last instants,
    averages) and the registers in (device_id, timestamp) order, which the
    counts slice into buckets. Both read one snapshot (`_read_snapshot`); should
    a concurrent insert still come between them, the counts disagree and the read
    is retried. With `classify` (consumption) the registers come with their instants
    and `classify` builds each run (reading quality); without it, the plain rule.
    """
    if not device_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(device_ids))
    where = f'device_id IN ({placeholders}) AND "timestamp" >= %s AND "timestamp" < %s'
    where_params = [*device_ids, _ts(start), _ts(end)]
    key_column = f", {key_sql} AS bucket_key" if key_sql else ""
    group_by = "device_id, bucket_key" if key_sql else "device_id"
    stat_columns = (
        ", AVG(power_w), MAX(power_w), MIN(power_w), AVG(voltage), AVG(current), AVG(power_factor)" if stats else ""
    )
    grouped_sql = (
        f'SELECT device_id{key_column}, COUNT(*), MIN("timestamp"), MAX("timestamp"){stat_columns} '  # noqa: S608
        f"FROM {_table()} WHERE {where} GROUP BY {group_by} ORDER BY {group_by}"
    )
    instants = f", {_epoch_sql()}" if classify else ""
    registers_sql = f'SELECT energy_kwh{instants} FROM {_table()} WHERE {where} ORDER BY device_id, "timestamp"'  # noqa: S608
    for _attempt in range(3):
        try:
            with _read_snapshot():
                with connection.cursor() as cursor:
                    cursor.execute(grouped_sql, [*key_params, *where_params])
                    grouped = cursor.fetchall()
                # Many meters (a billing run): a server-side cursor on PostgreSQL, so their
                # registers never sit in memory at once. One meter's series: one round trip.
                with connection.chunked_cursor() if len(device_ids) > 1 else connection.cursor() as cursor:
                    cursor.execute(registers_sql, where_params)
                    return _slice_runs(grouped, cursor, keyed=bool(key_sql), stats=stats, classify=classify)
        except InconsistentRead:
            continue
    raise InconsistentRead("Readings kept changing while they were aggregated; try again.")


@contextmanager
def _read_snapshot():
    """One consistent view of the table for several statements, without a write lock."""
    if connection.in_atomic_block:
        # The caller's transaction already spans the statements (a snapshot on
        # SQLite; on PostgreSQL a concurrent insert is caught by the count check).
        yield
        return
    if connection.vendor == "sqlite":
        # A deferred transaction is a WAL read snapshot. atomic() would not do:
        # the settings make it BEGIN IMMEDIATE, which takes the write lock and
        # would hold up the consumer's writes for the length of a read.
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


class _Registers:
    """The registers statement read in large blocks, handed out group by group."""

    BLOCK = 20_000

    def __init__(self, cursor, *, whole_rows: bool = False) -> None:
        self._cursor = cursor
        self._whole_rows = whole_rows
        self._values: list[float] = []
        self._position = 0
        self._exhausted = False

    def take(self, count: int) -> list[float]:
        end = self._position + count
        while end > len(self._values) and not self._exhausted:
            self._values = self._values[self._position :]
            end -= self._position
            self._position = 0
            rows = self._cursor.fetchmany(max(self.BLOCK, count))
            self._exhausted = not rows
            self._values.extend(rows if self._whole_rows else map(itemgetter(0), rows))
        taken = self._values[self._position : end]
        self._position = end
        return taken

    def finished(self) -> bool:
        return self._position >= len(self._values) and (self._exhausted or self._cursor.fetchone() is None)


def _slice_runs(grouped, cursor, *, keyed: bool, stats: bool, classify=None) -> dict[str, list[BucketGroup]]:
    """Cut the ordered registers into the groups, whose counts say how many rows each holds."""
    registers = _Registers(cursor, whole_rows=classify is not None)
    result: dict[str, list[BucketGroup]] = {}
    for row in grouped:
        if keyed:
            key, count, first_at, last_at = key_from_seconds(row[1]), row[2], row[3], row[4]
            averages = row[5:]
        else:
            key, count, first_at, last_at = None, row[1], row[2], row[3]
            averages = row[4:]
        values = registers.take(count)
        if len(values) != count:
            raise InconsistentRead
        if classify is not None:
            run = classify(row[0], values, first_at=as_utc(first_at), last_at=as_utc(last_at))
        else:
            run = run_from_registers(values, first_at=as_utc(first_at), last_at=as_utc(last_at))
        result.setdefault(row[0], []).append(BucketGroup(key, run, *averages))
    if not registers.finished():
        raise InconsistentRead
    return result


def _edge_rows_sql(
    device_ids: list[str],
    *,
    columns: Sequence[str],
    newest_before: datetime | None,
    oldest_from: datetime | None = None,
    second_oldest: bool = False,
) -> tuple[str, list]:
    """One statement for the newest reading before an instant (or ever) and/or the
    oldest (and, with `second_oldest`, the one after it) at/after another, per meter:
    an index probe per meter, not a scan."""
    table = _table()
    values = ", ".join(["(%s)"] * len(device_ids))
    probes, params = [], []
    newest = f"SELECT x.id FROM {table} x WHERE x.device_id = ids.device_id"  # noqa: S608
    if newest_before is not None:
        newest += ' AND x."timestamp" < %s'
        params.append(_ts(newest_before))
    probes.append(f'SELECT ({newest} ORDER BY x."timestamp" DESC LIMIT 1) FROM ids')  # noqa: S608
    if oldest_from is not None:
        probes.append(
            f"SELECT (SELECT x.id FROM {table} x WHERE x.device_id = ids.device_id "  # noqa: S608
            f'AND x."timestamp" >= %s ORDER BY x."timestamp" LIMIT 1) FROM ids'
        )
        params.append(_ts(oldest_from))
        if second_oldest:
            probes.append(
                f"SELECT (SELECT x.id FROM {table} x WHERE x.device_id = ids.device_id "  # noqa: S608
                f'AND x."timestamp" >= %s ORDER BY x."timestamp" LIMIT 1 OFFSET 1) FROM ids'
            )
            params.append(_ts(oldest_from))
    selected = ", ".join(connection.ops.quote_name(column) for column in columns)
    sql = (
        f"WITH ids(device_id) AS (VALUES {values}) "  # noqa: S608
        f"SELECT {selected} FROM {table} WHERE id IN ({' UNION ALL '.join(probes)})"
    )
    return sql, [*device_ids, *params]


def _neighbours(device_ids: list[str], start: datetime, end: datetime, *, following: bool = False) -> dict:
    """Per meter, the last reading before `start` and the first at/after `end`
    (with `following`, also the one after that: it confirms or excludes the first),
    as (before, after) or (before, after, following), in one statement."""
    sql, params = _edge_rows_sql(
        device_ids,
        columns=("device_id", "timestamp", "energy_kwh"),
        newest_before=start,
        oldest_from=end,
        second_oldest=following,
    )
    found: dict[str, list] = {device_id: [] for device_id in device_ids}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for device_id, timestamp, energy_kwh in cursor.fetchall():
            found[device_id].append(RegisterPoint(as_utc(timestamp), to_kwh(energy_kwh)))
    result = {}
    for device_id, points in found.items():
        points.sort()
        before = points[0] if points and points[0].timestamp < start else None
        later = points[1:] if before else points
        edges = (before, *later[:2], None, None)
        result[device_id] = edges[:3] if following else edges[:2]
    return result
