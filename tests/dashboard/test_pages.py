"""Customer pages with the Django test client: My meters, a meter's page, invoices."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dashboard.selectors import chart_ranges
from dashboard.templatetags.dashboard_format import kwh, power, rupees
from devices.models import Device
from tests.factories import DeviceFactory, InvoiceFactory, TariffFactory, UserFactory
from tests.support.readings import ist, reading, write_hourly, write_registers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def frozen_now(monkeypatch):
    """Pin django.utils.timezone.now: the month card depends on how far into the month "now" is."""

    def freeze(at: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: at)
        return at

    return freeze


def _meter_card(html: str, device_id: str) -> str:
    start = html.index(f'data-device-id="{device_id}"')
    return html[start : html.index("</li>", start)]


def _meter_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="meter-config" type="application/json">') + len(
        '<script id="meter-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


# --- access ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/meters/meter-001/", "/invoices/"])
def test_pages_ask_anonymous_visitors_to_sign_in(client, device, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_another_customers_meter_is_not_found_like_a_missing_one(signed_in, device, other_customer):
    client = signed_in(other_customer)
    assert client.get("/meters/meter-001/").status_code == 404
    assert client.get("/meters/no-such-meter/").status_code == 404


def test_staff_may_open_any_meter_page(signed_in, device, staff):
    assert signed_in(staff).get("/meters/meter-001/").status_code == 200


# --- My meters -----------------------------------------------------------------------


def test_my_meters_shows_power_month_so_far_and_a_labelled_estimate(signed_in, device, other_customer, frozen_now):
    TariffFactory()
    now = frozen_now(ist(2025, 1, 10, 12, 30))
    write_hourly(device.device_id, start=ist(2025, 1, 1), hours=9 * 24 + 12, kwh_per_hour=0.5)
    DeviceFactory(device_id="ravi-meter", owner=other_customer, name="Ravi's")

    response = signed_in(device.owner).get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-device-id="meter-001"' in html
    assert "ravi-meter" not in html
    assert "1.00 kW" in html  # the latest reading's power
    assert "Projected bill" in html
    assert "estimate" in html
    summary = response.context["summaries"][0]
    assert summary.month_to_date_kwh > 0
    assert summary.estimate.total > 0
    assert rupees(summary.estimate.total) in _meter_card(html, "meter-001")
    assert "Not enough data" not in html
    assert now == timezone.now()


def test_a_new_meter_with_two_readings_shows_no_projected_bill_but_says_why(signed_in, device, frozen_now):
    TariffFactory()
    now = frozen_now(ist(2025, 1, 20, 11, 5))
    write_registers(device.device_id, [(now - timedelta(hours=1, minutes=5), "0"), (now - timedelta(minutes=5), "1.2")])

    html = unescape(signed_in(device.owner).get("/").content.decode())
    card = _meter_card(html, "meter-001")
    assert kwh(Decimal("1.2")) in card  # this month so far, backed by readings, stays
    assert "₹" not in card
    assert "Not enough data yet to project this month's bill (projections start after 3 days of readings)." in card

    response = signed_in(device.owner).get("/meters/meter-001/")
    page = unescape(response.content.decode())
    month_card = page[page.index('id="month-heading"') : page.index("</section>", page.index('id="month-heading"'))]
    assert response.context["summary"].estimate is None
    assert "₹" not in month_card
    assert "Not enough data yet" in month_card
    assert "projections start after 3 days of readings" in month_card


def test_the_minimum_days_before_a_projection_follow_the_setting(signed_in, device, settings, frozen_now):
    settings.PROJECTION_MIN_DAYS = 5
    now = frozen_now(ist(2025, 1, 20, 11, 5))
    write_registers(device.device_id, [(now - timedelta(hours=2), "0"), (now - timedelta(hours=1), "1")])
    html = unescape(signed_in(device.owner).get("/").content.decode())
    assert "projections start after 5 days of readings" in html


def test_a_meter_with_five_days_of_readings_shows_a_projected_estimate(signed_in, device, frozen_now):
    TariffFactory()
    frozen_now(ist(2025, 1, 20, 0, 30))
    write_hourly(device.device_id, start=ist(2025, 1, 15), hours=5 * 24 + 1, kwh_per_hour=0.5)

    response = signed_in(device.owner).get("/meters/meter-001/")

    summary = response.context["summary"]
    assert summary.projection_held is None
    assert summary.estimate.projected_kwh == Decimal("204.000")  # 60 kWh in 5 days, over the 17 days from the 15th
    page = unescape(response.content.decode())
    month_card = page[page.index('id="month-heading"') : page.index("</section>", page.index('id="month-heading"'))]
    assert rupees(summary.estimate.total) in month_card
    assert "estimate" in month_card
    assert "Not enough data" not in month_card


def test_a_meter_that_never_reported_says_to_check_its_wifi(signed_in, customer):
    DeviceFactory(device_id="quiet-1", owner=customer, wifi_ssid="asha-home")
    html = signed_in(customer).get("/").content.decode()
    assert (
        "No readings yet — check the meter&#x27;s Wi-Fi" in html or "No readings yet — check the meter's Wi-Fi" in html
    )
    assert "asha-home" in html


def test_my_meters_without_any_meter_explains_what_happens_next(signed_in, customer):
    html = signed_in(customer).get("/").content.decode()
    assert "You have no meters yet." in html
    assert customer.email in html


def test_a_decommissioned_meter_is_labelled_and_not_estimated(signed_in, customer):
    TariffFactory()
    DeviceFactory(device_id="old-1", owner=customer, status=Device.Status.DECOMMISSIONED)
    write_hourly("old-1", start=timezone.now() - timedelta(hours=3), hours=3)
    response = signed_in(customer).get("/")
    assert "Decommissioned" in response.content.decode()
    assert response.context["summaries"][0].estimate is None


def test_times_are_shown_in_the_configured_time_zone(signed_in, device, settings):
    device.last_seen = datetime(2025, 3, 1, 18, 45, tzinfo=UTC)  # 00:15 on 2 March in India
    device.save(update_fields=["last_seen"])
    write_hourly(device.device_id, start=timezone.now() - timedelta(hours=2), hours=2)
    html = signed_in(device.owner).get("/meters/meter-001/").content.decode()
    assert "2 Mar 2025, 00:15" in html
    assert "Asia/Kolkata" in html


# --- meter page -------------------------------------------------------------------


def test_meter_page_wires_the_socket_the_readings_api_and_the_chart_ranges(signed_in, device, settings):
    now = timezone.now()
    get_reading = reading(device.device_id, now - timedelta(seconds=30), power_w=2345.0)
    from readings.stores import get_store

    get_store().write_many([get_reading])

    response = signed_in(device.owner).get("/meters/meter-001/")

    assert response.status_code == 200
    config = _meter_config(response)
    assert config["ws_path"] == "/ws/devices/meter-001/live"
    assert config["readings_url"] == "/api/readings/meter-001"
    assert config["time_zone"] == settings.TIME_ZONE
    assert config["latest"]["power_w"] == 2345.0
    assert set(config["ranges"]) >= {"hour", "day", "month"}
    html = response.content.decode()
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "cdn" not in html.lower()


def test_meter_page_without_readings_has_empty_states(signed_in, device):
    response = signed_in(device.owner).get("/meters/meter-001/")
    html = response.content.decode()
    assert _meter_config(response)["latest"] is None
    assert "No readings yet — check the meter" in html
    assert "nothing to estimate" in html


def test_chart_ranges_cover_48_hours_31_days_and_12_months_in_the_time_zone():
    tz = ZoneInfo("Asia/Kolkata")
    now = datetime(2025, 3, 10, 9, 40, tzinfo=UTC)  # 15:10 in India
    ranges = chart_ranges(now=now, tz=tz)
    assert datetime.fromisoformat(ranges["hour"]["from"]) == datetime(2025, 3, 8, 16, 0, tzinfo=tz)
    assert datetime.fromisoformat(ranges["day"]["from"]) == datetime(2025, 2, 8, 0, 0, tzinfo=tz)
    assert datetime.fromisoformat(ranges["month"]["from"]) == datetime(2024, 4, 1, 0, 0, tzinfo=tz)
    assert datetime.fromisoformat(ranges["hour"]["to"]) == now


def test_chart_ranges_stay_on_local_midnight_across_a_daylight_saving_change():
    tz = ZoneInfo("Europe/London")
    now = datetime(2025, 4, 5, 12, 0, tzinfo=UTC)  # clocks went forward on 30 March
    start = datetime.fromisoformat(chart_ranges(now=now, tz=tz)["day"]["from"])
    assert start == datetime(2025, 3, 6, 0, 0, tzinfo=tz)
    assert start.utcoffset() == timedelta(0)  # 6 March is still winter time


# --- invoices -----------------------------------------------------------------------


def test_invoices_list_status_amount_due_date_and_pdf_link(signed_in, device, other_customer):
    invoice = InvoiceFactory(device=device, month=date(2025, 1, 1))
    other_invoice = InvoiceFactory(device=DeviceFactory(owner=other_customer), month=date(2025, 1, 1))

    response = signed_in(device.owner).get("/invoices/")

    html = response.content.decode()
    assert response.status_code == 200
    assert invoice.number in html
    assert other_invoice.number not in html
    assert "₹1,268.50" in html  # 250 kWh: the worked example of the tariff
    assert "Issued" in html
    assert invoice.due_date.strftime("%-d %b %Y") in html
    assert f'href="/api/invoices/{invoice.number}/pdf"' in html


def test_the_invoice_link_downloads_the_pdf_for_the_owner_only(signed_in, device, other_customer):
    invoice = InvoiceFactory(device=device, month=date(2025, 1, 1))
    owner = signed_in(device.owner)
    response = owner.get(f"/api/invoices/{invoice.number}/pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content]).startswith(b"%PDF")
    owner.logout()
    assert signed_in(other_customer).get(f"/api/invoices/{invoice.number}/pdf").status_code == 404


def test_invoices_of_a_meter_since_reassigned_stay_on_the_billed_customers_page(
    signed_in, device, customer, other_customer
):
    old_bill = InvoiceFactory(device=device, month=date(2025, 1, 1))
    device.owner = other_customer
    device.save(update_fields=["owner"])

    assert old_bill.number in signed_in(customer).get("/invoices/").content.decode()
    assert old_bill.number not in signed_in(other_customer).get("/invoices/").content.decode()


def test_invoices_can_be_filtered_to_one_meter(signed_in, device, customer):
    second = DeviceFactory(device_id="shop-1", owner=customer, name="Shop")
    home = InvoiceFactory(device=device, month=date(2025, 1, 1))
    shop = InvoiceFactory(device=second, month=date(2025, 1, 1))
    html = signed_in(customer).get("/invoices/?meter=shop-1").content.decode()
    assert shop.number in html
    assert home.number not in html


def test_filtering_invoices_by_someone_elses_meter_is_not_found(signed_in, device, other_customer):
    DeviceFactory(device_id="ravi-1", owner=other_customer)
    assert signed_in(device.owner).get("/invoices/?meter=ravi-1").status_code == 404


def test_no_invoices_yet_says_when_the_first_one_comes(signed_in, device):
    html = signed_in(device.owner).get("/invoices/").content.decode()
    assert "No invoices yet." in html
    assert "1st of each month" in html


# --- formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1268.5", "₹1,268.50"), ("126850", "₹1,26,850.00"), ("12345678.905", "₹1,23,45,678.91"), ("0", "₹0.00")],
)
def test_rupees_use_indian_digit_grouping(value, expected):
    assert rupees(value) == expected


def test_power_and_energy_formats():
    assert power(950.4) == "950 W"
    assert power(1234.5) == "1.23 kW"
    assert power(None) == "–"
    assert kwh("1234.5678") == "1,234.57"
    UserFactory()  # keeps this module's db marker honest for the formats too
