"""The meter admin's provisioning: the add form, the CSV import, the reset-code and assign
actions; claim codes and hook secrets appear on the result page once and nowhere else."""

import base64
import csv
import io
import re
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from devices import lifecycle
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device
from devices.services import claim_code_matches, claim_code_normalize, device_claim
from tests.factories import CLAIM_CODE, UnclaimedDeviceFactory
from tests.support.admin_forms import device_change_form

pytestmark = pytest.mark.django_db

CODE = re.compile(r'<code class="claim-code">([A-Z0-9-]+)</code>')
HEADER = "device_id,serial,sanctioned_load_kw,location,name\n"
FORMAT_HEADER = "device_id,serial,sanctioned_load_kw,location,name,payload_format\n"


def _csv_download(html: str) -> list[dict]:
    href = re.search(r'id="claim-codes-csv" href="data:text/csv;charset=utf-8;base64,([^"]+)"', html).group(1)
    return list(csv.DictReader(io.StringIO(base64.b64decode(unquote(href)).decode())))


def _upload(staff_client, text: str):
    upload = SimpleUploadedFile("meters.csv", text.encode(), content_type="text/csv")
    return staff_client.post("/admin/devices/device/import/", {"file": upload})


def test_the_add_form_provisions_and_shows_the_code_and_secrets_once(staff_client):
    def hook(device):
        return ProvisionedSecrets(label="MQTT password", value="s3cret-broker-pw")

    lifecycle.on_provisioned(hook)
    try:
        response = staff_client.post(
            "/admin/devices/device/add/",
            {"device_id": "adm-1", "serial": "SN-ADM-1", "sanctioned_load_kw": "6.00", "location": "Depot", "name": ""},
        )
    finally:
        lifecycle._on_provisioned.remove(hook)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    [code] = CODE.findall(html)
    assert "s3cret-broker-pw" in html
    device = Device.objects.get(device_id="adm-1")
    assert device.owner is None
    assert claim_code_matches(code, device.claim_code_hash)
    # Shown once: neither the meter's page nor the list shows it again.
    for page in ("/admin/devices/device/", f"/admin/devices/device/{device.pk}/change/"):
        again = staff_client.get(page).content.decode()
        assert code not in again
        assert "s3cret-broker-pw" not in again
    assert "issued, not used yet" in staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()


def test_the_add_form_names_a_taken_id(staff_client, device):
    response = staff_client.post("/admin/devices/device/add/", {"device_id": device.device_id})
    assert response.status_code == 200
    assert "is already registered" in response.content.decode()
    assert Device.objects.count() == 1


def test_a_good_csv_provisions_every_row_and_offers_the_codes_once(staff_client, customer):
    response = _upload(
        staff_client, HEADER + "csv-1,SN-C1,5.00,Ward 1,Home\ncsv-2,SN-C2,,Ward 2,\n\ncsv-3,,15.5,Ward 3,Pump\n"
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    codes = CODE.findall(html)
    assert len(codes) == 3
    rows = _csv_download(html)
    assert [row["device_id"] for row in rows] == ["csv-1", "csv-2", "csv-3"]
    assert [row["claim_code"] for row in rows] == codes
    assert str(Device.objects.get(device_id="csv-2").sanctioned_load_kw) == "5.00"
    assert str(Device.objects.get(device_id="csv-3").sanctioned_load_kw) == "15.50"
    assert Device.objects.unclaimed().count() == 3
    # Each code is the one of its meter.
    assert device_claim(device_id="csv-2", claim_code=rows[1]["claim_code"], user=customer).owner == customer


def test_a_bad_row_imports_nothing_and_names_the_row_and_field(staff_client, device):
    response = _upload(
        staff_client,
        HEADER
        + "ok-1,SN-OK1,5,A,\n"
        + "bad id,SN-OK2,5,B,\n"
        + "ok-3,SN-OK3,lots,C,\n"
        + f"{device.device_id},SN-OK4,5,D,\n"
        + "ok-1,SN-OK5,5,E,\n",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported" in html
    assert "Row 3, device_id: Use 1 to 64 letters" in html
    assert "Row 4, sanctioned_load_kw: Enter a number." in html
    assert "Row 5, device_id: meter &#x27;meter-001&#x27; is already registered." in html
    assert "Row 6, device_id: &#x27;ok-1&#x27; is also on row 2." in html
    assert not Device.objects.filter(device_id__startswith="ok-").exists()


def test_the_add_form_provisions_a_meter_of_another_format(staff_client):
    response = staff_client.post(
        "/admin/devices/device/add/", {"device_id": "plug-1", "payload_format": "tasmota", "sanctioned_load_kw": ""}
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    assert Device.objects.get(device_id="plug-1").payload_format == "tasmota"


def test_a_csv_may_name_each_meters_payload_format(staff_client):
    response = _upload(
        staff_client,
        FORMAT_HEADER + "fmt-1,,,,,tasmota\nfmt-2,,,,,\nfmt-3,,,,,shelly-gen2\nfmt-4,,,,,dsmr-reader\n",
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    formats = dict(Device.objects.filter(device_id__startswith="fmt-").values_list("device_id", "payload_format"))
    assert formats == {"fmt-1": "tasmota", "fmt-2": "native", "fmt-3": "shelly-gen2", "fmt-4": "dsmr-reader"}


def test_a_csv_with_an_unknown_payload_format_names_the_row_and_the_formats(staff_client):
    response = _upload(staff_client, FORMAT_HEADER + "fmt-9,,,,,zigbee\n")
    assert "Row 2, payload_format: Use one of native, tasmota, shelly-gen2, dsmr-reader (empty: native)." in (
        response.content.decode()
    )
    assert not Device.objects.exists()


def test_staff_change_a_meters_payload_format_on_its_page(staff_client):
    device = UnclaimedDeviceFactory(device_id="fmt-c")
    form = staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    assert 'name="payload_format"' in form
    response = staff_client.post(
        f"/admin/devices/device/{device.pk}/change/",
        device_change_form(device, payload_format="dsmr-reader"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    device.refresh_from_db()
    assert device.payload_format == "dsmr-reader"


def test_a_file_without_the_columns_is_refused(staff_client):
    response = _upload(staff_client, "meter,load\nx,5\n")
    assert "Row 1 (header): missing column(s) device_id, serial, sanctioned_load_kw, location, name" in (
        response.content.decode()
    )
    assert not Device.objects.exists()


def test_the_changelist_links_to_the_import(staff_client):
    assert 'href="/admin/devices/device/import/"' in staff_client.get("/admin/devices/device/").content.decode()


def test_reset_claim_code_action_shows_new_codes_once_and_skips_claimed_meters(staff_client, device, customer):
    open_meter = UnclaimedDeviceFactory(device_id="open-1")
    response = staff_client.post(
        "/admin/devices/device/", {"action": "reset_claim_codes", "_selected_action": [open_meter.pk, device.pk]}
    )
    html = response.content.decode()
    [code] = CODE.findall(html)
    assert claim_code_normalize(code) != claim_code_normalize(CLAIM_CODE)
    assert "already claimed" in html  # meter-001 is skipped, saying why
    assert device_claim(device_id="open-1", claim_code=code, user=customer).owner == customer


def test_assign_action_gives_an_unclaimed_meter_to_a_customer(staff_client, customer):
    open_meter = UnclaimedDeviceFactory(device_id="open-1")
    selected = {"action": "reassign_owner", "_selected_action": [open_meter.pk]}
    assert "New owner" in staff_client.post("/admin/devices/device/", selected).content.decode()
    done = staff_client.post("/admin/devices/device/", {**selected, "apply": "1", "owner": customer.pk})
    assert done.status_code == 302
    open_meter.refresh_from_db()
    assert open_meter.owner == customer
    assert open_meter.claim_code_hash == ""


def test_unclaimed_meters_show_as_such_and_can_be_filtered(staff_client, device):
    UnclaimedDeviceFactory(device_id="open-1")
    html = staff_client.get("/admin/devices/device/?claimed=no").content.decode()
    assert "open-1" in html
    assert "not claimed yet" in html
    assert "meter-001" not in html


def test_the_owner_is_not_editable_on_the_meter_form(staff_client, device, other_customer):
    html = staff_client.get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    assert 'name="owner"' not in html
    assert 'name="sanctioned_load_kw"' in html
