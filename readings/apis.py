"""Readings API: a meter's readings over a range, raw or aggregated, and its latest reading.

GET /api/readings/<device_id>?from=&to=&agg=&tz=, GET /api/readings/<device_id>/latest
(also under /api/devices/<device_id>/readings) and GET /api/readings/<device_id>/csv (streamed).
Permissions, parameters, limits and responses: docs/readings.md#the-readings-api.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.identity import is_device_id
from devices.selectors import device_get_visible
from readings.csv_export import CSV_AGGREGATIONS, readings_csv_response
from readings.selectors import reading_latest, readings_series
from readings.stores import AGGREGATIONS
from readings.types import phases_as_dict

DEFAULT_RANGE = timedelta(hours=24)
RAW_MAX_RANGE = timedelta(days=7)
RAW_MAX_ROWS = 10_000
CSV_RAW_MAX_RANGE = timedelta(days=400)  # streamed, so longer than the JSON series
MAX_BUCKETS = 20_000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The shortest length of each bucket, to bound how many a range can hold.
BUCKET_LENGTH = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(hours=23),  # a daylight-saving day can be 23 hours
    "week": timedelta(days=7) - timedelta(hours=1),
    "month": timedelta(days=28) - timedelta(hours=1),
}
EPOCH_PATTERN = re.compile(r"^-?\d{1,12}(\.\d{1,9})?$")
# A '+' in a query string arrives as a space unless the client encoded it.
SPACE_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True)
class SeriesQuery:
    start: datetime
    end: datetime
    agg: str
    tz: ZoneInfo


def parse_zone(value: str | None) -> ZoneInfo:
    name = value or settings.TIME_ZONE
    if name not in _zone_names() and name != "UTC":
        raise ValidationError({"tz": [f"Unknown time zone {name!r}; use an IANA name such as 'Asia/Kolkata'."]})
    return ZoneInfo(name)


def parse_instant(name: str, value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 (an offset or 'Z'; without one, wall-clock time in `tz`) or epoch seconds."""
    text = value.strip()
    try:
        if EPOCH_PATTERN.match(text):
            instant = datetime.fromtimestamp(float(text), UTC)
        else:
            parsed = datetime.fromisoformat(SPACE_OFFSET.sub(r"+\1", text))
            instant = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
            instant = instant.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise ValidationError(
            {name: [f"{value!r} is not a date: use ISO 8601 (e.g. 2025-03-01T00:00:00+05:30) or epoch seconds."]}
        ) from None
    if not EARLIEST <= instant <= LATEST:
        raise ValidationError({name: [f"{value!r} is outside the supported years 1970 to 2200."]})
    return instant


def parse_series_query(
    params,
    *,
    now: datetime,
    aggregations: tuple[str, ...] = AGGREGATIONS,
    raw_max_range: timedelta = RAW_MAX_RANGE,
) -> SeriesQuery:
    tz = parse_zone(params.get("tz"))
    agg = params.get("agg") or "raw"
    if agg not in aggregations:
        raise ValidationError({"agg": [f"Unknown aggregation {agg!r}; use one of {', '.join(aggregations)}."]})
    end = parse_instant("to", params["to"], tz) if params.get("to") else now
    start = parse_instant("from", params["from"], tz) if params.get("from") else end - DEFAULT_RANGE
    if start >= end:
        raise ValidationError({"from": ["'from' must be before 'to'."]})
    if agg == "raw" and end - start > raw_max_range:
        coarser = next(name for name in aggregations if name != "raw")
        raise ValidationError(
            {
                "agg": [
                    f"Raw readings cover at most {raw_max_range.days} days; "
                    f"narrow the range or use agg={coarser} or coarser."
                ]
            }
        )
    if agg != "raw" and (end - start) / BUCKET_LENGTH[agg] > MAX_BUCKETS:
        raise ValidationError({"agg": [f"The range holds more than {MAX_BUCKETS} {agg} buckets; use a coarser agg."]})
    return SeriesQuery(start=start, end=end, agg=agg, tz=tz)


def _visible_device(request, device_id: str):
    # An id no meter can have (e.g. with a NUL byte, which PostgreSQL refuses) is simply absent.
    device = device_get_visible(user=request.user, device_id=device_id) if is_device_id(device_id) else None
    if device is None:
        raise NotFound(f"No meter '{device_id}'.")
    return device


def _bucket_row(row: dict) -> dict:
    # Hundreds of rows per response: plain expressions, no helper calls.
    power_w_avg, voltage_avg = row["power_w_avg"], row["voltage_avg"]
    current_avg, power_factor_avg = row["current_avg"], row["power_factor_avg"]
    return {
        "bucket": row["bucket"].isoformat(),
        "power_w_avg": None if power_w_avg is None else round(power_w_avg, 3),
        "power_w_max": row["power_w_max"],
        "power_w_min": row["power_w_min"],
        "voltage_avg": None if voltage_avg is None else round(voltage_avg, 3),
        "current_avg": None if current_avg is None else round(current_avg, 3),
        "power_factor_avg": None if power_factor_avg is None else round(power_factor_avg, 3),
        "energy_kwh": float(row["energy_kwh"]),
        "count": row["count"],
    }


def _raw_row(row: dict) -> dict:
    return {
        "timestamp": row["timestamp"].isoformat(),
        "voltage": row["voltage"],
        "current": row["current"],
        "power_w": row["power_w"],
        "energy_kwh": row["energy_kwh"],
        "power_factor": row["power_factor"],
        "rssi": row["rssi"],
        "energy_export_kwh": row.get("energy_export_kwh"),
        "phases": row.get("phases"),
        "registers": row.get("registers"),
    }


# --- OpenAPI shapes -------------------------------------------------------------------

ErrorSerializer = inline_serializer("ReadingsError", fields={"detail": serializers.CharField()})

RawRowSerializer = inline_serializer(
    "RawReadingRow",
    fields={
        "timestamp": serializers.DateTimeField(help_text="When the meter took the reading, in the response time zone."),
        "voltage": serializers.FloatField(allow_null=True, help_text="Null when the meter's format does not send it."),
        "current": serializers.FloatField(allow_null=True),
        "power_w": serializers.FloatField(allow_null=True),
        "energy_kwh": serializers.FloatField(
            help_text="The meter's cumulative import register (the sum of its tariff registers)."
        ),
        "power_factor": serializers.FloatField(allow_null=True),
        "rssi": serializers.IntegerField(allow_null=True),
        "energy_export_kwh": serializers.FloatField(allow_null=True, help_text="The export register, when sent."),
        "phases": serializers.DictField(
            allow_null=True,
            child=serializers.DictField(child=serializers.FloatField()),
            help_text='Per phase (L1..L3) or channel (CH1..), e.g. {"L1": {"voltage": 231.0, "power_w": 912.0}}.',
        ),
        "registers": serializers.DictField(
            allow_null=True,
            child=serializers.FloatField(),
            help_text='The tariff registers energy_kwh adds up, e.g. {"delivered_1": 1234.5, "delivered_2": 2345.6}.',
        ),
    },
)
BucketRowSerializer = inline_serializer(
    "ReadingBucketRow",
    fields={
        "bucket": serializers.DateTimeField(
            help_text="Start of the bucket, wall-clock time in the response time zone."
        ),
        "power_w_avg": serializers.FloatField(allow_null=True),
        "power_w_max": serializers.FloatField(allow_null=True),
        "power_w_min": serializers.FloatField(allow_null=True),
        "voltage_avg": serializers.FloatField(allow_null=True),
        "current_avg": serializers.FloatField(allow_null=True),
        "power_factor_avg": serializers.FloatField(allow_null=True),
        "energy_kwh": serializers.FloatField(
            help_text="Energy used in the bucket (clipped to the range), from the register, to 0.001 kWh."
        ),
        "count": serializers.IntegerField(help_text="Readings in the bucket."),
    },
)
SeriesSerializer = inline_serializer(
    "ReadingsSeries",
    fields={
        "device_id": serializers.CharField(),
        "agg": serializers.ChoiceField(choices=AGGREGATIONS),
        "time_zone": serializers.CharField(help_text="IANA zone of every timestamp and bucket in the response."),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "count": serializers.IntegerField(help_text="Number of rows in `results`."),
        "results": serializers.ListField(
            child=PolymorphicProxySerializer(
                component_name="ReadingsRow",
                serializers=[RawRowSerializer, BucketRowSerializer],
                resource_type_field_name=None,
            )
        ),
    },
)
LatestSerializer = inline_serializer(
    "LatestReading",
    fields={
        "device_id": serializers.CharField(),
        "time_zone": serializers.CharField(),
        "timestamp": serializers.DateTimeField(),
        "voltage": serializers.FloatField(),
        "current": serializers.FloatField(),
        "power_w": serializers.FloatField(),
        "energy_kwh": serializers.FloatField(help_text="The meter's cumulative register."),
        "power_factor": serializers.FloatField(),
        "rssi": serializers.IntegerField(),
    },
)
SERIES_PARAMETERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.STR,
        description="Start (inclusive): ISO 8601 with an offset (without one: wall-clock time in `tz`) "
        "or epoch seconds. Default: `to` minus 24 hours.",
    ),
    OpenApiParameter("to", OpenApiTypes.STR, description="End (exclusive), same formats. Default: now."),
    OpenApiParameter(
        "agg",
        OpenApiTypes.STR,
        enum=list(AGGREGATIONS),
        description=f"Default raw. Raw covers at most {RAW_MAX_RANGE.days} days and {RAW_MAX_ROWS} readings; "
        f"aggregations at most {MAX_BUCKETS} buckets. Beyond that: 400.",
    ),
    OpenApiParameter(
        "tz", OpenApiTypes.STR, description="IANA time zone for buckets and timestamps. Default: the site's."
    ),
]


SERIES_SCHEMA = {
    "parameters": SERIES_PARAMETERS,
    "responses": {200: SeriesSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
}
LATEST_SCHEMA = {
    "parameters": [SERIES_PARAMETERS[-1]],
    "responses": {200: LatestSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
}


class ReadingsSeriesApi(APIView):
    @extend_schema(
        operation_id="readings_series", summary="A meter's readings over a range, raw or aggregated", **SERIES_SCHEMA
    )
    def get(self, request, device_id):
        device = _visible_device(request, device_id)
        query = parse_series_query(request.query_params, now=timezone.now())
        raw = query.agg == "raw"
        rows = readings_series(
            device_id=device.device_id,
            start=query.start,
            end=query.end,
            agg=query.agg,
            tz=query.tz,
            limit=RAW_MAX_ROWS + 1 if raw else None,
        )
        if raw and len(rows) > RAW_MAX_ROWS:
            raise ValidationError(
                {"agg": [f"More than {RAW_MAX_ROWS} readings in the range; narrow it or use agg=minute or coarser."]}
            )
        return Response(
            {
                "device_id": device.device_id,
                "agg": query.agg,
                "time_zone": query.tz.key,
                "from": query.start.astimezone(query.tz).isoformat(),
                "to": query.end.astimezone(query.tz).isoformat(),
                "count": len(rows),
                "results": [_raw_row(row) for row in rows] if raw else [_bucket_row(row) for row in rows],
            }
        )


class ReadingLatestApi(APIView):
    @extend_schema(operation_id="readings_latest", summary="A meter's newest reading", **LATEST_SCHEMA)
    def get(self, request, device_id):
        device = _visible_device(request, device_id)
        tz = parse_zone(request.query_params.get("tz"))
        reading = reading_latest(device.device_id)
        if reading is None:
            raise NotFound(f"Meter '{device.device_id}' has no readings yet.")
        return Response(
            {
                "device_id": device.device_id,
                "time_zone": tz.key,
                **_raw_row(
                    {
                        "timestamp": reading.timestamp.astimezone(tz),
                        "voltage": reading.voltage,
                        "current": reading.current,
                        "power_w": reading.power_w,
                        "energy_kwh": reading.energy_kwh,
                        "power_factor": reading.power_factor,
                        "rssi": reading.rssi,
                        "energy_export_kwh": reading.energy_export_kwh,
                        "phases": phases_as_dict(reading.phases),
                        "registers": dict(reading.registers) or None,
                    }
                ),
            }
        )


def readings_csv_download(request, device_id: str, params) -> StreamingHttpResponse:
    """The CSV download of a meter the user may see, for the API and the customer's meter page alike.
    Raises NotFound (not visible) or ValidationError (bad query)."""
    device = _visible_device(request, device_id)
    query = parse_series_query(
        params, now=timezone.now(), aggregations=CSV_AGGREGATIONS, raw_max_range=CSV_RAW_MAX_RANGE
    )
    return readings_csv_response(
        device_id=device.device_id,
        start=query.start,
        end=query.end,
        agg=query.agg,
        tz=query.tz,
        asynchronous=isinstance(request, ASGIRequest) or isinstance(getattr(request, "_request", None), ASGIRequest),
    )


class JsonErrorsNegotiation(BaseContentNegotiation):
    """Whatever the client accepts: the body is CSV, and every error is JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return JSONRenderer(), JSONRenderer.media_type


class ReadingsCsvApi(APIView):
    content_negotiation_class = JsonErrorsNegotiation

    @extend_schema(
        operation_id="readings_csv",
        summary="A meter's readings as a CSV download, streamed",
        parameters=[
            *SERIES_PARAMETERS[:2],
            OpenApiParameter(
                "agg",
                OpenApiTypes.STR,
                enum=list(CSV_AGGREGATIONS),
                description=f"Default raw. Raw covers at most {CSV_RAW_MAX_RANGE.days} days; aggregations "
                f"at most {MAX_BUCKETS} buckets. Beyond that: 400.",
            ),
            SERIES_PARAMETERS[-1],
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request, device_id):
        return readings_csv_download(request, device_id, request.query_params)


class DeviceReadingsSeriesApi(ReadingsSeriesApi):
    """The same series under the meter's own path (/api/devices/<device_id>/readings)."""

    @extend_schema(operation_id="device_readings_series", summary="Alias of /api/readings/{device_id}", **SERIES_SCHEMA)
    def get(self, request, device_id):
        return super().get(request, device_id)


class DeviceReadingLatestApi(ReadingLatestApi):
    @extend_schema(
        operation_id="device_readings_latest", summary="Alias of /api/readings/{device_id}/latest", **LATEST_SCHEMA
    )
    def get(self, request, device_id):
        return super().get(request, device_id)
