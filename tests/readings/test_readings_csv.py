"""GET /api/readings/<device_id>/csv and the meter page's "Download data": permissions, headers,
raw and daily content, streaming in bounded chunks, the formula guard, and every 400."""

import csv
import io
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db.models.query import QuerySet
from django.http import StreamingHttpResponse

from readings import csv_export
from readings.csv_export import csv_pieces, readings_csv_response, safe_cell
from readings.stores import get_store
from tests.readings.series_samples import SERIES_START, quarter_hour_series, reading

pytestmark = pytest.mark.django_db

CSV = "/api/readings/meter-001/csv"
START = SERIES_START


@pytest.fixture
def readings(device):
    """Every 15 minutes from 21:35 IST on 1 March 2025 to 02:35 IST on 2 March, +0.25 kWh each."""
    batch = quarter_hour_series()
    batch[0] = reading(START, 100.0, 1000.0, energy_export_kwh=5.5)
    assert get_store().write_many(batch) == 21
    return batch


QUERY = {"from": "2025-03-01T00:00:00+05:30", "to": "2025-03-03T00:00:00+05:30", "tz": "Asia/Kolkata"}


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response))))


# --- who may read -----------------------------------------------------------------


def test_permission_matrix(api, readings, customer, other_customer, staff):
    assert api().get(CSV, QUERY).status_code == 401
    assert api(customer).get(CSV, QUERY).status_code == 200
    hidden = api(other_customer).get(CSV, QUERY)
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": "No meter 'meter-001'."}
    assert api(staff).get(CSV, QUERY).status_code == 200


# --- what comes back ----------------------------------------------------------------


def test_raw_csv_headers_and_rows_in_the_zone(api, readings, customer):
    response = api(customer).get(CSV, QUERY, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="meter-001_2025-03-01_2025-03-03_raw.csv"'
    table = rows(response)
    assert table[0] == [
        "timestamp",
        "energy_kwh",
        "power_w",
        "voltage",
        "current",
        "power_factor",
        "energy_export_kwh",
    ]
    assert len(table) == 22
    assert table[1] == ["2025-03-01T21:35:00+05:30", "100.0", "1000.0", "230.0", "4.348", "0.9", "5.5"]
    assert table[2] == ["2025-03-01T21:50:00+05:30", "100.25", "1001.0", "230.0", "4.352", "0.9", ""]
    assert table[-1][0] == "2025-03-02T02:35:00+05:30"
    assert [row[0] for row in table[1:]] == sorted(row[0] for row in table[1:])


def test_day_csv_has_one_row_per_local_day(api, readings, customer):
    response = api(customer).get(CSV, {**QUERY, "agg": "day"})
    assert response["Content-Disposition"] == 'attachment; filename="meter-001_2025-03-01_2025-03-03_day.csv"'
    table = rows(response)
    assert table[0] == [
        "bucket",
        "energy_kwh",
        "power_w_avg",
        "power_w_max",
        "power_w_min",
        "voltage_avg",
        "current_avg",
        "power_factor_avg",
        "count",
    ]
    days = {row[0]: row for row in table[1:]}
    assert list(days) == ["2025-03-01T00:00:00+05:30", "2025-03-02T00:00:00+05:30"]
    first, second = days.values()
    # 21:35 to 23:50 is ten readings; the step over midnight is shared by time (docs/readings.md).
    assert first[8] == "10"
    assert second[8] == "11"
    assert Decimal(first[1]) + Decimal(second[1]) == Decimal("5.000")
    assert first[3] == "1009.0"
    assert first[4] == "1000.0"


def test_empty_range_is_just_the_header(api, device, customer):
    table = rows(api(customer).get(CSV, {**QUERY, "agg": "hour"}))
    assert table == [table[0]]
    assert table[0][0] == "bucket"


# --- streaming --------------------------------------------------------------------


def test_raw_csv_streams_the_store_in_bounded_chunks(api, device, customer, monkeypatch):
    batch = [reading(START + timedelta(minutes=i), 100 + 0.01 * i) for i in range(5_000)]
    get_store().write_many(batch)
    monkeypatch.setattr(csv_export, "CHUNK_SIZE", 1_000)
    store_class = type(get_store())
    chunks: list[int] = []
    original = store_class.raw_chunks

    def counting(self, *args, **kwargs):
        assert kwargs["chunk_size"] == 1_000
        for chunk in original(self, *args, **kwargs):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(store_class, "raw_chunks", counting)
    iterator_chunk_sizes = []
    original_iterator = QuerySet.iterator

    def spying_iterator(self, chunk_size=None):
        iterator_chunk_sizes.append(chunk_size)
        return original_iterator(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spying_iterator)

    response = api(customer).get(CSV, {"from": "2025-03-01T00:00:00Z", "to": "2025-03-10T00:00:00Z", "tz": "UTC"})
    assert isinstance(response, StreamingHttpResponse)
    assert chunks == []  # nothing read before the body is
    content = iter(response.streaming_content)
    assert next(content).startswith(b"timestamp,")
    assert chunks == []
    next(content)
    assert chunks == [1_000]  # one chunk read, one written
    rest = b"".join(content)
    assert chunks == [1_000] * 5
    assert rest.count(b"\r\n") == 4_000
    assert iterator_chunk_sizes == [1_000]


def test_under_asgi_the_body_is_an_async_iterator_pulled_one_chunk_at_a_time(device, monkeypatch):
    get_store().write_many([reading(START + timedelta(minutes=i), 100 + 0.01 * i) for i in range(30)])
    monkeypatch.setattr(csv_export, "CHUNK_SIZE", 10)
    response = readings_csv_response(
        device_id="meter-001",
        start=START,
        end=START + timedelta(days=1),
        agg="raw",
        tz=UTC,
        asynchronous=True,
    )
    assert response.is_async

    async def pieces():
        return [piece async for piece in response]

    parts = async_to_sync(pieces)()
    assert len(parts) == 4  # the header, then three chunks of ten
    assert b"".join(parts).count(b"\r\n") == 31


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("meter-001", "meter-001"),
        (-12.5, -12.5),
        (None, ""),
    ],
)
def test_text_never_starts_like_a_formula_and_numbers_stay_numbers(value, written):
    assert safe_cell(value) == written


def test_a_negative_number_is_written_as_a_number():
    text = b"".join(csv_pieces(("a", "b"), [[(-5.0, "=1+1")]])).decode()
    assert text == "a,b\r\n-5.0,'=1+1\r\n"


# --- bad queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"agg": "week"}, "agg", "Unknown aggregation 'week'; use one of raw, hour, day, month."),
        ({"agg": "minute"}, "agg", "Unknown aggregation 'minute'; use one of raw, hour, day, month."),
        ({"from": "yesterday"}, "from", None),
        ({"tz": "Mars/Olympus"}, "tz", None),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from", "'from' must be before 'to'."),
        (
            {"from": "2024-01-01", "to": "2025-03-01"},
            "agg",
            "Raw readings cover at most 400 days; narrow the range or use agg=hour or coarser.",
        ),
    ],
)
def test_bad_queries_are_400_json(api, device, customer, query, field, message):
    response = api(customer).get(CSV, query, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    errors = response.json()
    assert field in errors
    if message:
        assert errors[field] == [message]


def test_a_year_of_raw_readings_is_allowed(api, device, customer):
    response = api(customer).get(CSV, {"from": "2024-03-01", "to": "2025-03-01"})
    assert response.status_code == 200
    assert body(response).startswith("timestamp,")


# --- the meter page -----------------------------------------------------------------


def test_the_meter_page_offers_the_download_form(client, device, customer):
    client.force_login(customer)
    page = client.get("/meters/meter-001/").content.decode()
    assert 'id="download-form"' in page
    assert 'action="/meters/meter-001/readings.csv"' in page
    assert 'name="agg"' in page
    assert 'value="raw"' in page


def test_the_meter_page_download_streams_the_same_csv_with_whole_days(client, readings, customer):
    client.force_login(customer)
    response = client.get("/meters/meter-001/readings.csv", {"from": "2025-03-01", "to": "2025-03-02", "agg": "day"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="meter-001_2025-03-01_2025-03-03_day.csv"'
    table = rows(response)
    assert [row[0] for row in table[1:]] == ["2025-03-01T00:00:00+05:30", "2025-03-02T00:00:00+05:30"]


def test_the_meter_page_download_of_another_meter_is_404_and_bad_dates_go_back(
    client, readings, customer, other_customer
):
    client.force_login(other_customer)
    assert client.get("/meters/meter-001/readings.csv", {"from": "2025-03-01", "to": "2025-03-02"}).status_code == 404
    client.force_login(customer)
    response = client.get(
        "/meters/meter-001/readings.csv", {"from": "2025-03-05", "to": "2025-03-01", "agg": "day"}, follow=True
    )
    assert response.redirect_chain == [("/meters/meter-001/#download", 302)]
    assert "The download could not be made: &#x27;from&#x27; must be before &#x27;to&#x27;." in (
        response.content.decode()
    )


def test_the_meter_page_download_needs_a_sign_in(client, device):
    response = client.get("/meters/meter-001/readings.csv", {"from": "2025-03-01", "to": "2025-03-02"})
    assert response.status_code == 302
