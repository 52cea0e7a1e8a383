"""What the API says of an estimated bill, an adjustment, credit and a split month: in the invoice list
and the bill preview, described in the OpenAPI schema; the excluded readings are listed for staff only."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db

DETAIL_FIELDS = {
    "estimated",
    "estimate_basis",
    "adjustment_kwh",
    "adjustment_amount",
    "adjustment_detail",
    "credit_applied",
    "credit_carried",
    "parts",
    "service_days",
    "closing_at",
    "excluded_readings_count",
    "excluded_readings",
}
EXCLUDED = [
    {"timestamp": "2025-02-10T10:00:00+00:00", "register": "9999.000", "kind": "glitch", "reason": "drops back"},
    {"timestamp": "2025-02-11T10:00:00+00:00", "register": "1500.000", "kind": "implausible", "reason": "too fast"},
]


@pytest.fixture
def february(invoice_factory):
    return invoice_factory(
        month=date(2025, 2, 1),
        estimate=True,
        adjusted=True,
        credited=True,
        prorated=True,
        closing_at=datetime(2025, 2, 28, 18, 15, tzinfo=UTC),
        excluded_readings=EXCLUDED,
    )


def test_the_invoice_list_carries_the_bill_details(api, february, customer):
    row = api(customer).get("/api/invoices/meter-001").json()[0]
    assert DETAIL_FIELDS <= set(row)
    assert row["estimated"] is True
    assert row["estimate_basis"] == "trailing_90_days"
    assert row["adjustment_kwh"] == "-16.000"
    assert row["adjustment_amount"] == "-80.50"
    assert row["adjustment_detail"] == [
        {"month": "2025-01", "estimated_kwh": "120.000", "actual_kwh": "104.000", "kwh": "-16.000", "amount": "-80.50"}
    ]
    assert row["credit_applied"] == "100.00"
    assert row["credit_carried"] == "0.00"
    assert row["total"] == "1088.00"  # 1268.50 - 80.50 - 100.00
    assert row["parts"] == []
    assert row["service_days"] == 12
    assert row["closing_at"].startswith("2025-02-28T")
    assert row["excluded_readings_count"] == 2
    assert row["excluded_readings"] is None  # the list is for staff


def test_staff_get_the_excluded_readings_themselves(api, february, staff):
    row = api(staff).get("/api/invoices/meter-001").json()[0]
    assert row["excluded_readings"] == EXCLUDED
    assert row["excluded_readings_count"] == 2


def test_a_split_month_lists_its_parts(api, invoice_factory, customer):
    invoice_factory(split=True)
    row = api(customer).get("/api/invoices/meter-001").json()[0]
    assert [(part["from"], part["days"], part["subtotal"]) for part in row["parts"]] == [
        ("2025-01-01T00:00:00+05:30", 14, "404.84"),
        ("2025-01-15T00:00:00+05:30", 17, "695.17"),
    ]


def test_the_bill_preview_of_an_invoiced_month_carries_the_same_details(api, february, customer):
    body = api(customer).get("/api/billing/meter-001?month=2025-02").json()
    assert body["invoice_id"] == february.number
    assert body["estimated"] is True
    assert body["adjustment_amount"] == "-80.50"
    assert body["adjustment_detail"][0]["month"] == "2025-01"
    assert body["credit_applied"] == "100.00"
    assert body["service_days"] == 12
    assert body["excluded_readings_count"] == 2
    assert body["excluded_readings"] is None
    assert body["total"] == "1088.00"


def test_the_preview_of_an_unbilled_month_is_what_the_run_would_bill(api, device, seed_tariff, customer):
    write_registers("meter-001", [(ist(2025, 1, 1), "1000"), (ist(2025, 2, 1), "1250")])
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert body["total"] == "1268.50"
    assert {name: body[name] for name in DETAIL_FIELDS} == {
        "estimated": False,
        "estimate_basis": "",
        "adjustment_kwh": "0.000",
        "adjustment_amount": "0.00",
        "adjustment_detail": [],
        "credit_applied": "0.00",
        "credit_carried": "0.00",
        "parts": [],
        "service_days": None,
        "closing_at": "2025-02-01T00:00:00+05:30",  # closed on the reading at midnight
        "excluded_readings_count": 0,
        "excluded_readings": None,
    }


def test_the_preview_of_a_month_without_a_closing_read_after_the_grace_period_is_the_estimate(
    api, device, seed_tariff, customer
):
    write_registers("meter-001", [(ist(2024, 12, 1), "1000"), (ist(2025, 1, 10), "1390")])  # 9.75 kWh a day
    body = api(customer).get("/api/billing/meter-001?month=2025-01").json()
    assert (body["estimated"], body["estimate_basis"], body["energy_kwh"]) == (True, "trailing_90_days", "302.250")


def test_a_month_still_in_progress_previews_its_consumption_so_far(api, device, seed_tariff, customer):
    now = timezone.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    write_registers("meter-001", [(start, "100"), (now - timedelta(minutes=1), "130")])
    body = api(customer).get("/api/billing/meter-001").json()
    assert (body["month_complete"], body["estimated"], body["closing_at"]) == (False, False, None)


def test_the_openapi_schema_documents_the_bill_details():
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    for name in ("InvoiceListOutput", "BillPreviewOutput"):
        properties = schemas[name]["properties"]
        assert DETAIL_FIELDS <= set(properties), name
        assert properties["parts"]["items"]["properties"]["from"]["format"] == "date-time"
        assert set(properties["adjustment_detail"]["items"]["properties"]) == {
            "month",
            "estimated_kwh",
            "actual_kwh",
            "kwh",
            "amount",
        }
        assert properties["excluded_readings"]["nullable"] is True
        assert properties["service_days"]["nullable"] is True
