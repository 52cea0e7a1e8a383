"""A meter's readings as a CSV download, streamed: raw readings are read from the store in
bounded chunks and written out chunk by chunk, so a year of 1-minute readings never sits in
memory. Columns, limits and the formula guard: docs/readings.md#csv-download.
"""

import csv
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from readings.selectors import readings_raw_chunks, readings_series

CSV_AGGREGATIONS = ("raw", "hour", "day", "month")
CHUNK_SIZE = 5_000  # readings per store batch and per piece of the response
RAW_HEADER = ("timestamp", "energy_kwh", "power_w", "voltage", "current", "power_factor", "energy_export_kwh")
BUCKET_HEADER = (
    "bucket",
    "energy_kwh",
    "power_w_avg",
    "power_w_max",
    "power_w_min",
    "voltage_avg",
    "current_avg",
    "power_factor_avg",
    "count",
)
# A text cell starting with one of these runs as a formula in a spreadsheet (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell as written: None empty, numbers as they are, text never starting like a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _Echo:
    """A file whose write() hands the text back, so csv.writer formats one row at a time."""

    def write(self, text: str) -> str:
        return text


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _raw_rows(device_id: str, start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[list[tuple]]:
    for chunk in readings_raw_chunks(device_id=device_id, start=start, end=end, chunk_size=CHUNK_SIZE):
        yield [
            (
                reading.timestamp.astimezone(tz).isoformat(),
                reading.energy_kwh,
                reading.power_w,
                reading.voltage,
                reading.current,
                reading.power_factor,
                reading.energy_export_kwh,
            )
            for reading in chunk
        ]


def _bucket_rows(device_id: str, start: datetime, end: datetime, agg: str, tz: ZoneInfo) -> Iterator[list[tuple]]:
    # Bounded by the bucket count the query allows: one piece.
    rows = readings_series(device_id=device_id, start=start, end=end, agg=agg, tz=tz)
    yield [
        (
            row["bucket"].isoformat(),
            row["energy_kwh"],
            _rounded(row["power_w_avg"]),
            row["power_w_max"],
            row["power_w_min"],
            _rounded(row["voltage_avg"]),
            _rounded(row["current_avg"]),
            _rounded(row["power_factor_avg"]),
            row["count"],
        )
        for row in rows
    ]


def csv_pieces(header: tuple[str, ...], chunks: Iterable[list[tuple]]) -> Iterator[bytes]:
    """The header, then one UTF-8 piece per chunk of rows."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header).encode()
    for chunk in chunks:
        if chunk:
            yield "".join(writer.writerow([safe_cell(value) for value in row]) for row in chunk).encode()


async def _async_pieces(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Under ASGI, Django would list() a synchronous iterator before sending it; pull one piece at
    # a time instead, on the request's own thread (its database connection and cursor).
    take = sync_to_async(next, thread_sensitive=True)
    try:
        while (piece := await take(pieces, None)) is not None:
            yield piece
    finally:
        await sync_to_async(pieces.close, thread_sensitive=True)()


def csv_filename(device_id: str, start: datetime, end: datetime, agg: str, tz: ZoneInfo) -> str:
    """<device_id>_<from>_<to>_<agg>.csv, dates in `tz` (device ids hold no unsafe characters)."""
    return f"{device_id}_{start.astimezone(tz):%Y-%m-%d}_{end.astimezone(tz):%Y-%m-%d}_{agg}.csv"


def readings_csv_response(
    *, device_id: str, start: datetime, end: datetime, agg: str, tz: ZoneInfo, asynchronous: bool = False
) -> StreamingHttpResponse:
    """The download of a checked query; `asynchronous` when served under ASGI."""
    if agg == "raw":
        pieces = csv_pieces(RAW_HEADER, _raw_rows(device_id, start, end, tz))
    else:
        pieces = csv_pieces(BUCKET_HEADER, _bucket_rows(device_id, start, end, agg, tz))
    response = StreamingHttpResponse(
        _async_pieces(pieces) if asynchronous else pieces, content_type="text/csv; charset=utf-8"
    )
    filename = csv_filename(device_id, start, end, agg, tz)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
