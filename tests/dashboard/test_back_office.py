"""Staff back office: the meter list and its actions, a meter's readings page, the overview."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services.invoices import invoice_mark_paid
from devices.models import Device
from tests.factories import DeadLetterFactory, DeviceFactory, InvoiceFactory, UserFactory
from tests.support.readings import write_hourly

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


# --- meter list ------------------------------------------------------------------------


def test_meter_list_shows_owner_status_latest_reading_and_links(staff_client, device):
    write_hourly(device.device_id, start=timezone.now() - timedelta(hours=3), hours=3, power_w=1500.0)
    quiet = DeviceFactory(device_id="quiet-1")

    html = staff_client.get("/admin/devices/device/").content.decode()

    assert device.owner.email in html
    assert "1.50 kW · 230.0 V<br>" in html
    assert "no readings yet" in html  # quiet-1
    assert f"/admin/devices/device/{device.pk}/readings/" in html
    assert f"/admin/billing/invoice/?device__id__exact={device.pk}" in html
    assert f"/admin/devices/device/{quiet.pk}/readings/" in html


def test_meter_page_shows_the_latest_reading_and_links_that_the_apps_above_devices_add(staff_client, device):
    write_hourly(device.device_id, start=timezone.now() - timedelta(hours=2), hours=2, power_w=950.0)

    html = staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()

    assert "950 W · 230.0 V<br>" in html  # readings adds the column
    assert f'href="/admin/devices/device/{device.pk}/readings/">Readings</a> · ' in html
    assert f'href="/admin/billing/invoice/?device__id__exact={device.pk}">Invoices</a>' in html  # billing adds it


def test_meter_list_reads_latest_readings_in_one_go_not_per_row(staff_client, django_assert_max_num_queries):
    for n in range(30):
        device = DeviceFactory(device_id=f"many-{n:02d}")
        write_hourly(device.device_id, start=timezone.now() - timedelta(hours=1), hours=1)
    with django_assert_max_num_queries(15):
        response = staff_client.get("/admin/devices/device/")
    assert response.content.decode().count(" V<br><small><time") == 30


def test_invoices_link_lists_that_meters_invoices(staff_client, device):
    from datetime import date

    invoice = InvoiceFactory(device=device, month=date(2025, 1, 1))
    other = InvoiceFactory(device=DeviceFactory(), month=date(2025, 1, 1))
    html = staff_client.get(f"/admin/billing/invoice/?device__id__exact={device.pk}").content.decode()
    assert invoice.number in html
    assert other.number not in html


def test_decommission_action_uses_the_service_and_keeps_history(staff_client, device):
    response = staff_client.post(
        "/admin/devices/device/", {"action": "decommission_selected", "_selected_action": [device.pk]}, follow=True
    )
    device.refresh_from_db()
    assert device.status == Device.Status.DECOMMISSIONED
    assert device.decommissioned_at is not None
    assert "Decommissioned 1 meter." in response.content.decode()


def test_reassign_action_asks_for_the_new_owner_then_moves_the_meters(staff_client, device, other_customer):
    second = DeviceFactory(device_id="meter-002", owner=device.owner)
    selected = {"action": "reassign_owner", "_selected_action": [device.pk, second.pk]}

    form = staff_client.post("/admin/devices/device/", selected)
    assert form.status_code == 200
    assert "New owner" in form.content.decode()

    done = staff_client.post("/admin/devices/device/", {**selected, "apply": "1", "owner": other_customer.pk})
    assert done.status_code == 302
    assert set(Device.objects.filter(owner=other_customer).values_list("device_id", flat=True)) == {
        "meter-001",
        "meter-002",
    }


def test_back_office_pages_are_for_staff_only(client, device, customer):
    client.force_login(customer)
    for path in (f"/admin/devices/device/{device.pk}/readings/", "/admin/overview/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


# --- readings page ----------------------------------------------------------------------


@pytest.fixture(params=["sql", "mongo"])
def either_store(request):
    """Staff see the same readings whichever store holds them."""
    if request.param == "mongo":
        return request.getfixturevalue("mongo_store")
    return None


def test_readings_page_shows_chart_data_and_table_for_the_last_day(staff_client, device, either_store):
    now = timezone.now()
    write_hourly(device.device_id, start=now - timedelta(hours=5, minutes=30), hours=5, kwh_per_hour=2.0)

    response = staff_client.get(f"/admin/devices/device/{device.pk}/readings/")

    assert response.status_code == 200
    rows = response.context["rows"]
    assert len(rows) == 5
    assert all(row["count"] == 1 for row in rows)
    assert sum(row["energy_kwh"] for row in rows) == pytest.approx(8.0)  # 4 hour-to-hour steps of 2 kWh
    html = response.content.decode()
    assert 'id="readings-chart"' in html
    assert "readings-chart-data" in html


def test_readings_page_shows_every_reading_for_any_range(staff_client, device):
    now = timezone.localtime()
    write_hourly(device.device_id, start=now - timedelta(days=10), hours=6)
    start = (now - timedelta(days=10, hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (now - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")

    response = staff_client.get(
        f"/admin/devices/device/{device.pk}/readings/", {"start": start, "end": end, "agg": "raw"}
    )

    rows = response.context["rows"]
    assert [row["register_kwh"] for row in rows] == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert "Register kWh" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2025-03-02T00:00", "end": "2025-03-01T00:00", "agg": "hour"}, "must be before"),
        ({"start": "2025-03-01T00:00", "end": "2025-03-09T00:00", "agg": "raw"}, "at most 2 days"),
        ({"start": "yesterday", "end": "2025-03-01T00:00", "agg": "hour"}, "Enter a valid date/time"),
        ({"start": "2025-03-01T00:00", "end": "2025-03-02T00:00", "agg": "fortnight"}, "Select a valid choice"),
    ],
)
def test_readings_page_explains_a_bad_range(staff_client, device, params, message):
    response = staff_client.get(f"/admin/devices/device/{device.pk}/readings/", params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["rows"] == []


def test_readings_page_of_an_unknown_meter_is_not_found(staff_client):
    assert staff_client.get("/admin/devices/device/999999/readings/").status_code == 404


# --- overview -------------------------------------------------------------------------


def test_overview_counts_meters_readings_rejections_and_this_months_invoices(staff_client, device):
    now = timezone.now()
    DeviceFactory(device_id="on-2", status=Device.Status.ONLINE, last_seen=now)
    DeviceFactory(device_id="off-1", status=Device.Status.OFFLINE)
    device.status = Device.Status.ONLINE
    device.save(update_fields=["status"])
    write_hourly(device.device_id, start=now - timedelta(minutes=50), hours=1)
    write_hourly("on-2", start=now - timedelta(minutes=30), hours=1)
    write_hourly("on-2", start=now - timedelta(hours=5), hours=1)
    for reason, count in (("not_json", 3), ("out_of_range", 1)):
        for _ in range(count):
            DeadLetterFactory(topic="smartmeter/x/telemetry", reason=reason, received_at=now)
    DeadLetterFactory(topic="t", reason="oversize", received_at=now - timedelta(days=3))
    from datetime import date

    last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    paid = InvoiceFactory(device=device, month=last_month)
    invoice_mark_paid(invoice=paid)
    InvoiceFactory(device=DeviceFactory(device_id="b-1"), month=last_month, energy_kwh="100.000")
    InvoiceFactory(device=DeviceFactory(device_id="b-2"), month=date(2020, 5, 1))  # issued now too, for an old month

    response = staff_client.get("/admin/overview/")

    overview = response.context["overview"]
    assert overview.meters_by_status["online"] == 2
    assert overview.meters_by_status["offline"] == 3  # off-1, b-1 and b-2: new meters start offline
    assert overview.readings_last_hour == 2
    assert overview.rejected_by_reason == [("not_json", 3), ("out_of_range", 1)]
    assert overview.dead_letters_kept == 5
    tally = {row.status: (row.count, row.amount) for row in overview.invoices}
    assert tally["paid"] == (1, Decimal("1268.50"))
    assert tally["issued"][0] == 2
    assert tally["overdue"] == (0, Decimal("0.00"))
    html = response.content.decode()
    assert "₹1,268.50" in html
    assert "/admin/readings/deadletter/?reason__exact=not_json" in html


def test_overview_counts_the_bills_to_review_and_links_to_the_queue(staff_client, device):
    response = staff_client.get("/admin/overview/")
    assert response.context["overview"].bills_to_review == 0
    assert "Bills to review: 0" in response.content.decode()
    InvoiceFactory(device=device, held=True)
    InvoiceFactory(device=DeviceFactory(device_id="b-1", owner=device.owner), held=True)
    InvoiceFactory(device=DeviceFactory(device_id="b-2", owner=device.owner))  # issued: not counted

    response = staff_client.get("/admin/overview/")

    assert response.context["overview"].bills_to_review == 2
    assert '<a href="/admin/billing/heldinvoice/">Bills to review: 2</a>' in response.content.decode()


def test_admin_index_links_to_the_overview(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert 'href="/admin/overview/"' in html
    assert "Open the overview" in html


def test_staff_can_tell_customers_from_staff_in_the_user_list(staff_client, customer):
    UserFactory(email="ops@example.com", is_staff=True)
    html = staff_client.get("/admin/accounts/user/?is_staff__exact=0").content.decode()
    assert customer.email in html
    assert "ops@example.com" not in html
