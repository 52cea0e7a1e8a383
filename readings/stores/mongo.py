"""The MongoDB readings store: a MongoEngine document in a time-series collection.

Used whenever MONGODB_URI is set. `write_many` filters duplicates itself (time-series
collections have no unique indexes); series are aggregation pipelines. The collection,
the pipelines and why `$dateTrunc` gets no `timezone`: docs/readings.md#the-mongodb-store.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import batched

from django.conf import settings
from mongoengine import (
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentField,
    FloatField,
    IntField,
    StringField,
)
from pymongo.errors import CollectionInvalid, OperationFailure

from readings.consumption import RegisterPoint, consumption_from_run, needs_points, run_from_parts, to_kwh
from readings.quality import DEFAULT_LIMITS
from readings.stores.base import ReadingStore, check_agg, check_range
from readings.stores.buckets import BucketGroup, as_utc, build_series, offset_periods, raw_row, stored_instant, zone
from readings.stores.mongo_connection import ALIAS, readings_database
from readings.types import Consumption, Reading, phases_as_dict, phases_from_dict

CHUNK = 500
TIMESERIES = {"timeField": "timestamp", "metaField": "metadata", "granularity": "minutes"}
NAMESPACE_EXISTS = 48


class ReadingMetadata(EmbeddedDocument):
    device_id = StringField(required=True, max_length=64)
    location = StringField(default="")


class MongoReading(Document):
    timestamp = DateTimeField(required=True)
    metadata = EmbeddedDocumentField(ReadingMetadata, required=True)
    # Absent: the meter's format does not send it (docs/ingestion.md#payload-formats).
    voltage = FloatField()
    current = FloatField()
    power_w = FloatField()
    energy_kwh = FloatField(required=True)
    power_factor = FloatField()
    rssi = IntField()
    energy_export_kwh = FloatField()
    phases = DictField()
    registers = DictField()

    meta = {
        "db_alias": ALIAS,
        "collection": settings.MONGODB_READINGS_COLLECTION,
        # The collection must exist as time-series before any index is built on it.
        "auto_create_index": False,
        "indexes": [{"fields": ["metadata.device_id", "timestamp"], "name": "device_time"}],
    }


def ensure_collection() -> None:
    """Create the time-series collection and its index if missing (safe to race)."""
    database = readings_database()
    name = MongoReading._get_collection_name()
    if name not in database.list_collection_names():
        try:
            database.create_collection(name, timeseries=TIMESERIES)
        except CollectionInvalid:
            pass
        except OperationFailure as exc:
            if exc.code != NAMESPACE_EXISTS:
                raise
    MongoReading.ensure_indexes()


class MongoReadingStore(ReadingStore):
    name = "mongo"

    def __init__(self) -> None:
        self._ready = False

    def _collection(self):
        if not self._ready:
            ensure_collection()
            self._ready = True
        return MongoReading._get_collection()

    # --- writes ---------------------------------------------------------------

    def write_many(self, readings: Sequence[Reading]) -> int:
        unique: dict[tuple[str, datetime], Reading] = {}
        for reading in readings:
            unique.setdefault((reading.device_id, stored_instant(reading.timestamp)), reading)
        if not unique:
            return 0
        collection = self._collection()
        keys = list(unique)
        stored: set[tuple[str, datetime]] = set()
        for index in range(0, len(keys), CHUNK):
            part = keys[index : index + CHUNK]
            query = {
                "metadata.device_id": {"$in": sorted({device_id for device_id, _ in part})},
                "timestamp": {"$in": sorted({timestamp for _, timestamp in part})},
            }
            for document in collection.find(query, {"_id": 0, "metadata.device_id": 1, "timestamp": 1}):
                stored.add((document["metadata"]["device_id"], as_utc(document["timestamp"])))
        new = [
            MongoReading(
                timestamp=timestamp,
                metadata=ReadingMetadata(device_id=device_id, location=reading.location or ""),
                voltage=reading.voltage,
                current=reading.current,
                power_w=reading.power_w,
                energy_kwh=reading.energy_kwh,
                power_factor=reading.power_factor,
                rssi=reading.rssi,
                energy_export_kwh=reading.energy_export_kwh,
                phases=phases_as_dict(reading.phases),
                registers=dict(reading.registers) or None,
            )
            for (device_id, timestamp), reading in unique.items()
            if (device_id, timestamp) not in stored
        ]
        if new:
            MongoReading.objects.insert(new, load_bulk=False)
        return len(new)

    def registers_at(self, keys: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], Decimal]:
        wanted = sorted({(device_id, stored_instant(instant)) for device_id, instant in keys})
        collection = self._collection()
        found: dict[tuple[str, datetime], Decimal] = {}
        for index in range(0, len(wanted), CHUNK):
            part = wanted[index : index + CHUNK]
            keep = set(part)
            # The same shape of query as write_many's duplicate filter: meters and instants,
            # narrowed to the exact pairs here.
            query = {
                "metadata.device_id": {"$in": sorted({device_id for device_id, _ in part})},
                "timestamp": {"$in": sorted({instant for _, instant in part})},
            }
            projection = {"_id": 0, "metadata.device_id": 1, "timestamp": 1, "energy_kwh": 1}
            for document in collection.find(query, projection):
                key = (document["metadata"]["device_id"], as_utc(document["timestamp"]))
                if key in keep:
                    found[key] = to_kwh(document["energy_kwh"])
        return found

    # --- single rows ------------------------------------------------------------

    def latest(self, device_id: str) -> Reading | None:
        self._collection()
        document = (
            MongoReading.objects(metadata__device_id=device_id).order_by("-timestamp").limit(1).as_pymongo().first()
        )
        return _reading(document) if document else None

    def latest_many(self, device_ids: Iterable[str]) -> dict[str, Reading]:
        collection = self._collection()
        device_ids = sorted(set(device_ids))
        found = {}
        for index in range(0, len(device_ids), CHUNK):
            pipeline = [
                {"$match": {"metadata.device_id": {"$in": device_ids[index : index + CHUNK]}}},
                {"$sort": {"metadata.device_id": 1, "timestamp": -1}},
                {"$group": {"_id": "$metadata.device_id", "newest": {"$first": "$$ROOT"}}},
            ]
            for row in collection.aggregate(pipeline):
                found[row["_id"]] = _reading(row["newest"])
        return found

    def count(self, device_id: str | None = None, *, since: datetime | None = None) -> int:
        query: dict = {}
        if device_id is not None:
            query["metadata.device_id"] = device_id
        if since is not None:
            query["timestamp"] = {"$gte": since}
        return self._collection().count_documents(query)

    # --- aggregates -------------------------------------------------------------

    def series(self, device_id, *, start, end, agg, tz, limit=None, limits=None) -> list[dict]:
        check_range(start, end)
        check_agg(agg)
        tz = zone(tz)
        collection = self._collection()
        if agg == "raw":
            cursor = collection.find(
                {"metadata.device_id": device_id, "timestamp": {"$gte": start, "$lt": end}}, sort=[("timestamp", 1)]
            )
            if limit is not None:
                cursor = cursor.limit(limit)
            return [raw_row(_reading(document), tz) for document in cursor]
        groups = self._runs([device_id], start, end, key=bucket_key_expression(agg, tz, start, end), stats=True)
        before, after = self._neighbours([device_id], start, end).get(device_id, (None, None))
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
                RegisterPoint(as_utc(document["timestamp"]), to_kwh(document["energy_kwh"]))
                for document in collection.find(
                    {"metadata.device_id": device_id, "timestamp": {"$gte": start, "$lt": end}},
                    projection={"timestamp": 1, "energy_kwh": 1, "_id": 0},
                    sort=[("timestamp", 1)],
                )
            ],
        )

    def raw_chunks(self, device_id, *, start, end, chunk_size) -> Iterator[list[Reading]]:
        check_range(start, end)
        cursor = self._collection().find(
            {"metadata.device_id": device_id, "timestamp": {"$gte": start, "$lt": end}},
            sort=[("timestamp", 1)],
            batch_size=chunk_size,
        )
        with cursor:
            for chunk in batched(cursor, chunk_size, strict=False):
                yield [_reading(document) for document in chunk]

    def consumption_many(self, device_ids, *, start, end, limits=None) -> dict[str, Consumption]:
        check_range(start, end)
        device_ids = sorted(set(device_ids))
        limits = limits or {}
        result = {}
        for index in range(0, len(device_ids), CHUNK):
            chunk = device_ids[index : index + CHUNK]
            rates: dict[str, float | None] = {}
            runs = {
                device_id: groups[0].run
                for device_id, groups in self._runs(
                    chunk, start, end, key={"$literal": 0}, stats=False, rates=rates
                ).items()
            }
            neighbours = self._neighbours(chunk, start, end, following=True)
            # A meter whose run has a drop or a step too large for it, inside or at its
            # edges, gets its readings walked one by one (readings.quality): one more query.
            walk = [
                device_id
                for device_id, run in runs.items()
                if _suspect(run, rates.get(device_id), limits.get(device_id, DEFAULT_LIMITS))
                or needs_points(neighbours[device_id][0], run, neighbours[device_id][1], limits.get(device_id))
            ]
            for device_id, points in self._points(walk, start, end).items():
                runs[device_id] = runs[device_id]._replace(points=points)
            for device_id in chunk:
                before, after, following = neighbours[device_id]
                result[device_id] = consumption_from_run(
                    device_id,
                    start=start,
                    end=end,
                    before=before,
                    run=runs.get(device_id),
                    after=after,
                    following=following,
                    limits=limits.get(device_id, DEFAULT_LIMITS),
                )
        return result

    def _points(self, device_ids: list[str], start, end) -> dict[str, tuple[RegisterPoint, ...]]:
        """Every reading of the listed meters in [start, end), in time order (one query)."""
        if not device_ids:
            return {}
        found: dict[str, list[RegisterPoint]] = {}
        cursor = self._collection().find(
            {"metadata.device_id": {"$in": device_ids}, "timestamp": {"$gte": start, "$lt": end}},
            {"_id": 0, "metadata.device_id": 1, "timestamp": 1, "energy_kwh": 1},
            sort=[("metadata.device_id", 1), ("timestamp", 1)],
        )
        for document in cursor:
            point = RegisterPoint(as_utc(document["timestamp"]), to_kwh(document["energy_kwh"]))
            found.setdefault(document["metadata"]["device_id"], []).append(point)
        return {device_id: tuple(points) for device_id, points in found.items()}

    # --- pipelines --------------------------------------------------------------

    def _runs(self, device_ids, start, end, *, key, stats: bool, rates=None) -> dict[str, list[BucketGroup]]:
        """Per meter and bucket: count, first/last reading, the register drops and averages
        (and into `rates`, when given, each meter's steepest rise in kWh per millisecond)."""
        project = {"d": "$metadata.device_id", "t": "$timestamp", "e": "$energy_kwh", "k": key}
        group = {
            "_id": {"d": "$d", "k": "$k"},
            "count": {"$sum": 1},
            "first_t": {"$min": "$t"},
            "last_t": {"$max": "$t"},
            # The first (last) reading of a bucket is the one whose neighbour is in another bucket.
            "first_e": {"$max": {"$cond": [{"$ne": ["$pk", "$k"]}, "$e", None]}},
            "last_e": {"$max": {"$cond": [{"$ne": ["$nk", "$k"]}, "$e", None]}},
            # The steepest rise inside the bucket, in kWh per millisecond (reading quality).
            "max_rate": {
                "$max": {
                    "$cond": [
                        {"$eq": ["$pk", "$k"]},
                        {"$divide": [{"$subtract": ["$e", "$pe"]}, {"$max": [{"$subtract": ["$t", "$pt"]}, 1]}]},
                        None,
                    ]
                }
            },
            # The register just before each drop inside the bucket (a reset or a replaced meter).
            "drops": {
                "$push": {"$cond": [{"$and": [{"$eq": ["$pk", "$k"]}, {"$lt": ["$e", "$pe"]}]}, "$pe", "$$REMOVE"]}
            },
        }
        if stats:
            project.update({"p": "$power_w", "v": "$voltage", "c": "$current", "pf": "$power_factor"})
            group.update(
                {
                    "power_w_avg": {"$avg": "$p"},
                    "power_w_max": {"$max": "$p"},
                    "power_w_min": {"$min": "$p"},
                    "voltage_avg": {"$avg": "$v"},
                    "current_avg": {"$avg": "$c"},
                    "power_factor_avg": {"$avg": "$pf"},
                }
            )
        pipeline = [
            {"$match": {"metadata.device_id": {"$in": list(device_ids)}, "timestamp": {"$gte": start, "$lt": end}}},
            {"$project": project},
            {
                "$setWindowFields": {
                    "partitionBy": "$d",
                    "sortBy": {"t": 1},
                    "output": {
                        "pe": {"$shift": {"output": "$e", "by": -1}},
                        "pt": {"$shift": {"output": "$t", "by": -1}},
                        "pk": {"$shift": {"output": "$k", "by": -1}},
                        "nk": {"$shift": {"output": "$k", "by": 1}},
                    },
                }
            },
            {"$group": group},
            {"$sort": {"_id.d": 1, "_id.k": 1}},
        ]
        result: dict[str, list[BucketGroup]] = {}
        for row in MongoReading.objects.aggregate(pipeline):
            run = run_from_parts(
                count=row["count"],
                first=RegisterPoint(as_utc(row["first_t"]), to_kwh(row["first_e"])),
                last=RegisterPoint(as_utc(row["last_t"]), to_kwh(row["last_e"])),
                drop_values=[value for value in row["drops"] if value is not None],
            )
            if rates is not None:
                rates[row["_id"]["d"]] = row.get("max_rate")
            key = row["_id"]["k"]
            key = key.replace(tzinfo=None) if isinstance(key, datetime) else None
            averages = (
                [row[name] for name in ("power_w_avg", "power_w_max", "power_w_min")]
                + [row[name] for name in ("voltage_avg", "current_avg", "power_factor_avg")]
                if stats
                else []
            )
            result.setdefault(row["_id"]["d"], []).append(BucketGroup(key, run, *averages))
        return result

    def _neighbours(self, device_ids, start, end, *, following: bool = False) -> dict:
        """Per meter, the last reading before `start` and the first at/after `end` (with
        `following`, also the one after that: it confirms or excludes the first), as
        (before, after) or (before, after, following)."""
        found: dict[str, list] = {device_id: [None, None, None] for device_id in device_ids}
        for side, condition, direction in ((0, {"$lt": start}, -1), (1, {"$gte": end}, 1)):
            taken = 2 if side and following else 1
            pipeline = [
                {"$match": {"metadata.device_id": {"$in": list(device_ids)}, "timestamp": condition}},
                {"$sort": {"metadata.device_id": 1, "timestamp": direction}},
                {
                    "$group": {
                        "_id": "$metadata.device_id",
                        "edge": {"$firstN": {"input": {"t": "$timestamp", "e": "$energy_kwh"}, "n": taken}},
                    }
                },
            ]
            for row in MongoReading.objects.aggregate(pipeline):
                for offset, point in enumerate(row["edge"]):
                    found[row["_id"]][side + offset] = RegisterPoint(as_utc(point["t"]), to_kwh(point["e"]))
        return {device_id: tuple(edges) if following else tuple(edges[:2]) for device_id, edges in found.items()}


def _suspect(run, max_rate: float | None, limits) -> bool:
    """A drop, or a rise steeper than the meter's limit (a hair strict: the exact check decides)."""
    return run.resets > 0 or (max_rate is not None and max_rate * 3_600_000 > float(limits.max_kw) * 0.999999)


def bucket_key_expression(agg: str, tz, start: datetime, end: datetime) -> dict:
    """A reading's bucket key: `$dateTrunc` of its timestamp shifted into wall-clock time."""

    def truncated(offset_seconds: int) -> dict:
        spec = {"date": {"$add": ["$timestamp", offset_seconds * 1000]}, "unit": agg}
        if agg == "week":
            spec["startOfWeek"] = "monday"
        return {"$dateTrunc": spec}

    periods = offset_periods(start, end, tz)
    if len(periods) == 1:
        return truncated(periods[0][1])
    return {
        "$switch": {
            "branches": [
                {"case": {"$lt": ["$timestamp", until]}, "then": truncated(offset)} for until, offset in periods[:-1]
            ],
            "default": truncated(periods[-1][1]),
        }
    }


def _reading(document: dict) -> Reading:
    metadata = document.get("metadata") or {}
    return Reading(
        device_id=metadata.get("device_id", ""),
        timestamp=as_utc(document["timestamp"]),
        voltage=document.get("voltage"),
        current=document.get("current"),
        power_w=document.get("power_w"),
        energy_kwh=document["energy_kwh"],
        power_factor=document.get("power_factor"),
        rssi=document.get("rssi"),
        location=metadata.get("location", "") or "",
        energy_export_kwh=document.get("energy_export_kwh"),
        phases=phases_from_dict(document.get("phases")),
        registers=tuple((document.get("registers") or {}).items()),
    )
