"""GET /api/readings/<device_id> and /latest: permissions, every 400, and the aggregates."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from readings.stores import get_store
from tests.readings.series_samples import quarter_hour_series, reading

pytestmark = pytest.mark.django_db

KOLKATA = ZoneInfo("Asia/Kolkata")
SERIES = "/api/readings/meter-001"
LATEST = "/api/readings/meter-001/latest"


@pytest.fixture
def readings(device):
    """Every 15 minutes from 21:35 IST on 1 March 2025 to 02:35 IST on 2 March, +0.25 kWh each."""
    batch = quarter_hour_series()
    assert get_store().write_many(batch) == 21
    return batch


def detail(response):
    body = response.json()
    assert set(body) >= {"detail"}
    return body["detail"]


# --- who may read -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [SERIES, LATEST, "/api/devices/meter-001/readings", "/api/devices/meter-001/readings/latest"]
)
def test_permission_matrix(api, path, readings, customer, other_customer, staff):
    assert api().get(path).status_code == 401
    assert api(customer).get(path).status_code == 200
    hidden = api(other_customer).get(path)
    assert hidden.status_code == 404
    assert detail(hidden) == "No meter 'meter-001'."
    assert api(staff).get(path).status_code == 200


def test_an_unknown_meter_is_404_for_staff_too(api, staff):
    response = api(staff).get("/api/readings/meter-unknown")
    assert response.status_code == 404
    assert detail(response) == "No meter 'meter-unknown'."


@pytest.mark.parametrize("device_id", ["meter%00001", "x" * 65, "m%C3%A9ter", "a%20b"])
def test_ids_no_meter_can_have_are_404(api, staff, device_id):
    response = api(staff).get(f"/api/readings/{device_id}")
    assert response.status_code == 404
    # No route takes such an id (the device_id converter): the API's catch-all answers, before any query.
    assert response.json()["detail"].startswith("No API endpoint at /api/readings/")


def test_another_customers_meter_is_404_even_with_bad_parameters(api, readings, other_customer):
    # Validation never runs before the ownership check, so nothing leaks about the meter.
    assert api(other_customer).get(SERIES, {"from": "yesterday"}).status_code == 404


# --- bad requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "yesterday"}, "from", "is not a date"),
        ({"to": "2025-13-01T00:00:00Z"}, "to", "is not a date"),
        ({"from": "1e400"}, "from", "is not a date"),
        ({"from": "-86400"}, "from", "outside the supported years"),
        ({"to": "99999999999"}, "to", "outside the supported years"),
        ({"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from", "must be before"),
        ({"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from", "must be before"),
        ({"agg": "fortnight"}, "agg", "Unknown aggregation"),
        ({"tz": "Mars/Olympus_Mons"}, "tz", "Unknown time zone"),
        ({"tz": "../../etc/passwd"}, "tz", "Unknown time zone"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2025-01-09T00:00:00Z"}, "agg", "at most 7 days"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z", "agg": "minute"}, "agg", "coarser agg"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(api, customer, readings, params, field, message):
    response = api(customer).get(SERIES, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert message in body["detail"]
    assert message in body[field][0]


def test_raw_output_beyond_the_row_cap_is_refused(api, customer, device, monkeypatch):
    from readings import apis

    start = datetime(2025, 3, 1, tzinfo=UTC)
    get_store().write_many([reading(start + timedelta(seconds=i), 1 + i / 1000) for i in range(120)])
    monkeypatch.setattr(apis, "RAW_MAX_ROWS", 100)  # the real cap is 10,000: same code path, less data
    response = api(customer).get(SERIES, {"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T01:00:00Z"})
    exact = api(customer).get(SERIES, {"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T00:01:40Z"})
    assert response.status_code == 400
    assert "More than 100 readings" in detail(response)
    assert exact.status_code == 200
    assert exact.json()["count"] == 100


def test_latest_of_a_meter_without_readings_is_404_saying_so(api, customer, device):
    response = api(customer).get(LATEST)
    assert response.status_code == 404
    assert detail(response) == "Meter 'meter-001' has no readings yet."


# --- answers --------------------------------------------------------------------------


def test_defaults_are_the_last_24_hours_raw_in_the_site_zone(api, customer, device, settings):
    now = timezone.now()
    get_store().write_many([reading(now - timedelta(hours=25), 1.0), reading(now - timedelta(hours=1), 2.0)])
    body = api(customer).get(SERIES).json()
    assert body["agg"] == "raw"
    assert body["time_zone"] == settings.TIME_ZONE
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(hours=24)
    assert body["count"] == 1
    (row,) = body["results"]
    assert row["energy_kwh"] == 2.0
    assert datetime.fromisoformat(row["timestamp"]).utcoffset() == timedelta(hours=5, minutes=30)
    assert set(row) == {
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
    assert row["energy_export_kwh"] is None
    assert row["phases"] is None
    assert row["registers"] is None


def test_day_buckets_across_kolkata_midnight(api, customer, readings):
    response = api(customer).get(
        SERIES, {"from": "2025-03-01T00:00:00+05:30", "to": "2025-03-03T00:00:00+05:30", "agg": "day"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["time_zone"] == "Asia/Kolkata"
    assert body["from"] == "2025-03-01T00:00:00+05:30"
    assert [row["bucket"] for row in body["results"]] == ["2025-03-01T00:00:00+05:30", "2025-03-02T00:00:00+05:30"]
    assert [row["count"] for row in body["results"]] == [10, 11]
    assert [row["energy_kwh"] for row in body["results"]] == [2.417, 2.583]
    assert body["results"][1]["power_w_max"] == 1020.0
    assert body["results"][1]["power_w_min"] == 1010.0
    assert body["results"][0]["voltage_avg"] == 230.0


def test_hour_buckets_with_epoch_bounds_and_another_zone(api, customer, readings):
    start = int(datetime(2025, 3, 1, 17, 0, tzinfo=UTC).timestamp())
    response = api(customer).get(SERIES, {"from": start, "to": start + 3 * 3600, "agg": "hour", "tz": "UTC"})
    body = response.json()
    assert body["time_zone"] == "UTC"
    assert [row["bucket"] for row in body["results"]] == [
        "2025-03-01T17:00:00+00:00",
        "2025-03-01T18:00:00+00:00",
        "2025-03-01T19:00:00+00:00",
    ]
    assert [row["energy_kwh"] for row in body["results"]] == [1.0, 1.0, 1.0]


def test_an_unencoded_plus_in_the_offset_and_a_naive_time_are_understood(api, customer, readings):
    # "?from=2025-03-02T00:00:00+05:30" unencoded arrives with a space for the '+'.
    spaced = api(customer).get(SERIES + "?from=2025-03-02T00:00:00+05:30&to=2025-03-02T01:00:00+05:30")
    naive = api(customer).get(SERIES, {"from": "2025-03-02T00:00:00", "to": "2025-03-02T01:00:00"})
    assert spaced.status_code == 200, spaced.content
    assert spaced.json()["from"] == naive.json()["from"] == "2025-03-02T00:00:00+05:30"
    assert spaced.json()["count"] == naive.json()["count"] == 4


def test_month_buckets_for_a_year(api, customer, readings):
    body = (
        api(customer)
        .get(SERIES, {"from": "2024-04-01T00:00:00+05:30", "to": "2025-04-01T00:00:00+05:30", "agg": "month"})
        .json()
    )
    assert [row["bucket"] for row in body["results"]] == ["2025-03-01T00:00:00+05:30"]
    assert body["results"][0]["energy_kwh"] == 5.0
    assert body["results"][0]["count"] == 21


def test_latest_reading(api, customer, readings):
    body = api(customer).get(LATEST).json()
    assert body == {
        "device_id": "meter-001",
        "time_zone": "Asia/Kolkata",
        "timestamp": "2025-03-02T02:35:00+05:30",
        "voltage": 230.0,
        "current": readings[-1].current,
        "power_w": 1020.0,
        "energy_kwh": 105.0,
        "power_factor": 0.9,
        "rssi": -55,
        "energy_export_kwh": None,
        "phases": None,
        "registers": None,
    }


def test_the_openapi_schema_describes_the_readings_endpoints(api, staff):
    schema = api(staff).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/readings/{device_id}"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"from", "to", "agg", "tz", "device_id"}
    assert {"200", "400", "401", "404"} <= set(operation["responses"])
    assert "/api/readings/{device_id}/latest" in schema["paths"]


@pytest.mark.mongo
def test_the_api_answers_the_same_from_the_mongo_store(api, customer, device, mongo_store):
    start = datetime(2025, 3, 1, 16, 5, tzinfo=UTC)
    assert (
        mongo_store.write_many(
            [reading(start + timedelta(minutes=15 * i), 100 + 0.25 * i, 1000.0 + i) for i in range(21)]
        )
        == 21
    )
    body = (
        api(customer)
        .get(SERIES, {"from": "2025-03-01T00:00:00+05:30", "to": "2025-03-03T00:00:00+05:30", "agg": "day"})
        .json()
    )
    assert [row["count"] for row in body["results"]] == [10, 11]
    assert [row["energy_kwh"] for row in body["results"]] == [2.417, 2.583]
    assert api(customer).get(LATEST).json()["timestamp"] == "2025-03-02T02:35:00+05:30"
