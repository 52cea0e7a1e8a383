"""End to end in a real headless Chromium against a real daphne, the real broker and a real database.

The server is the same command the Procfile runs (daphne smartmeter.asgi:application)
in its own process, with its own SQLite file seeded through the product's code.
Readings are published to the machine's Mosquitto; the page must show them live.

Screenshots of the main pages at desktop and phone widths are taken on every run; they
replace the README's pictures in docs/screenshots/ only with SMARTMETER_SCREENSHOTS=1
(otherwise a test run would leave the work tree modified).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.dashboard.live_helpers import publish, telemetry, unique_device_id
from tests.support.live_server import LiveServer
from tests.support.services import require_service, service_missing

pytestmark = [pytest.mark.browser, pytest.mark.broker]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("SMARTMETER_SCREENSHOTS") == "1"
    else ROOT / "var" / "test-screenshots"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    service_missing("Debian's chromium is not installed (run `make browser` as root to install it)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _require_chromium()
    require_service("Mosquitto", "127.0.0.1", 1883)
    server = LiveServer(tmp_path_factory.mktemp("e2e"))
    server.env["UTILITY_UPI_VPA"] = "smartmeter@okaxis"
    server.env["MQTT_PUBLIC_URL"] = "mqtts://mqtt.example.com:8883"  # what the onboarding panel shows meters
    server.manage("migrate", "--noinput", "-v", "0")
    server.data = server.seed(unique_device_id("e2e"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


CSP_VIOLATION = re.compile(r"Content.Security.Policy", re.IGNORECASE)


@pytest.fixture
def new_page(browser, site):
    """Pages of fresh browser contexts; any Content-Security-Policy violation on them fails the test."""
    contexts = []
    violations = []

    def make(viewport=DESKTOP, **options):
        context = browser.new_context(
            viewport=viewport,
            base_url=site.url,
            accept_downloads=True,
            timezone_id="Europe/London",  # not the utility's zone: the page must still show IST
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(f"{page.url}: {message.text}") if CSP_VIOLATION.search(message.text) else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == [], "the page broke its Content-Security-Policy"


def _login(page, email, password, path="/login/"):
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("^(Sign in|Log in)$")).click()
    page.wait_for_load_state()


def _shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# Functions, not bare expressions: Playwright polls a bare expression with eval() inside the
# page, which the Content-Security-Policy (no 'unsafe-eval') rightly refuses.
LIVE_POWER_IS = "(expected) => document.getElementById('live-power').textContent.trim() === expected"

CANVAS_HAS_INK = """(selector) => {
  const canvas = document.querySelector(selector);
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""


def test_customer_sees_meters_live_power_charts_and_downloads_an_invoice(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["customer"], data["password"])

    # My meters: the meter with a power figure, month so far and an estimate, plus the empty states.
    card = page.locator(f"[data-device-id='{data['device_id']}']")
    card.wait_for()
    assert "Home" in card.inner_text()
    assert "kWh" in card.inner_text()
    assert "estimate" in card.inner_text().lower()
    assert "check the meter's Wi-Fi" in page.locator(f"[data-device-id='{data['device_id']}-pump']").inner_text()
    assert f"{data['device_id']}-ravi" not in page.content()
    _shot(page, "meters-desktop")

    # Meter page: the socket goes live, and a reading published to the broker shows up.
    card.get_by_role("link", name="View live power").click()
    page.wait_for_selector("#conn[data-state='live']")
    sent_at = publish(("127.0.0.1", 1883), data["device_id"], telemetry(power_w=4321.0, voltage=236.4, current=18.3))
    page.wait_for_function(LIVE_POWER_IS, arg="4.32", timeout=3000)
    assert time.monotonic() - sent_at < 1.0, "the live number took more than a second"
    assert page.locator("#live-power-unit").inner_text() == "kW"
    assert page.locator("#live-voltage").inner_text() == "236.4 V"
    assert page.locator("#live-current").inner_text() == "18.30 A"

    # Charts drawn from the readings API, for every period.
    page.wait_for_selector("#consumption-box[data-drawn='hour']")
    page.wait_for_selector("#quality-box[data-drawn='true']")
    assert page.evaluate(CANVAS_HAS_INK, "#consumption-canvas") > 500
    assert page.evaluate(CANVAS_HAS_INK, "#quality-canvas") > 500
    assert page.evaluate(CANVAS_HAS_INK, "#rolling-chart") > 100
    assert page.locator("#consumption-table tbody tr").count() >= 47
    _shot(page, "meter-desktop")
    page.get_by_role("button", name="31 days").click()
    page.wait_for_selector("#consumption-box[data-drawn='day']")
    assert page.locator("#consumption-table tbody tr").count() == 31
    page.get_by_role("button", name="12 months").click()
    page.wait_for_selector("#consumption-box[data-drawn='month']")
    assert page.locator("#consumption-table tbody tr").count() == 12
    assert page.evaluate(CANVAS_HAS_INK, "#consumption-canvas") > 500

    # Invoices: status, amount, due date, and the PDF itself.
    page.get_by_role("link", name="Invoices", exact=True).click()
    row = page.locator("tbody tr", has_text=data["invoice"])
    assert "Issued" in row.inner_text()
    assert "Due" in page.locator("thead").inner_text()
    _shot(page, "invoices-desktop")
    with page.expect_download() as download_info:
        row.get_by_role("link", name=f"Download invoice {data['invoice']}").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")


def test_pages_work_at_phone_width(site, new_page):
    data = site.data
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    _login(page, data["customer"], data["password"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "meters-phone")
    page.goto(f"/meters/{data['device_id']}/")
    page.wait_for_selector("#consumption-box[data-drawn='hour']")
    page.wait_for_selector("#conn[data-state='live']")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "meter-phone")
    page.goto("/invoices/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "invoices-phone")
    for path, name in (
        ("/account/pay/", "pay"),
        ("/account/statement/", "statement"),
        ("/account/receipts/", "receipts"),
    ):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        _shot(page, f"{name}-phone")


def test_the_meter_page_is_usable_from_the_keyboard(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["customer"], data["password"])
    page.goto(f"/meters/{data['device_id']}/")
    page.wait_for_selector("#consumption-box[data-drawn='hour']")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.period === 'day'"):
            break
    else:
        pytest.fail("the period buttons cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#consumption-box[data-drawn='day']")
    assert page.get_by_role("button", name="31 days").get_attribute("aria-pressed") == "true"


def test_another_customer_cannot_open_the_meter_page_or_its_socket(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["other"], data["password"])
    response = page.goto(f"/meters/{data['device_id']}/")
    assert response.status == 404
    assert "4.32" not in page.content()
    outcome = page.evaluate(
        """(path) => new Promise((resolve) => {
            const socket = new WebSocket(`ws://${location.host}${path}`);
            let opened = false, messages = 0;
            socket.onopen = () => { opened = true; };
            socket.onmessage = () => { messages++; };
            socket.onclose = (event) => resolve({opened, messages, code: event.code});
            setTimeout(() => resolve({opened, messages, code: "timeout"}), 5000);
        })""",
        f"/ws/devices/{data['device_id']}/live",
    )
    assert outcome["opened"] is False
    assert outcome["messages"] == 0
    invoice = page.request.get(f"/api/invoices/{data['invoice']}/pdf")
    assert invoice.status == 404


def test_the_live_socket_reconnects_by_itself_after_a_server_restart(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["customer"], data["password"])
    page.goto(f"/meters/{data['device_id']}/")
    page.wait_for_selector("#conn[data-state='live']")
    site.stop()
    page.wait_for_selector("#conn[data-state='reconnecting']")
    site.start()
    page.wait_for_selector("#conn[data-state='live']", timeout=20_000)
    publish(("127.0.0.1", 1883), data["device_id"], telemetry(power_w=777.0))
    page.wait_for_function(LIVE_POWER_IS, arg="777", timeout=3000)
    assert page.locator("#live-power-unit").inner_text() == "W"


def test_staff_finds_the_meter_in_the_admin_and_opens_its_readings(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["staff"], data["password"], path="/admin/login/?next=/admin/")
    page.goto("/admin/")
    _shot(page, "admin-index-desktop")
    page.get_by_role("link", name="Open the overview").click()
    assert page.locator("#readings-last-hour").inner_text().strip() != ""
    _shot(page, "admin-overview-desktop")
    page.goto("/admin/devices/device/")
    page.locator("#searchbar").fill(data["device_id"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q="))
    row = page.locator("#result_list tbody tr", has_text="Home")
    assert "no readings yet" not in row.inner_text()
    _shot(page, "admin-devices-desktop")
    row.get_by_role("link", name="Readings", exact=True).click()
    page.wait_for_selector("#readings-table tbody tr")
    assert page.locator("#readings-table tbody tr").count() >= 24
    page.wait_for_function("() => window.Chart && Chart.getChart('readings-chart')")
    assert page.evaluate(CANVAS_HAS_INK, "#readings-chart") > 500
    _shot(page, "admin-readings-desktop")
    # Any range: every reading of the last 10 minutes.
    page.get_by_label("Show", exact=True).select_option("raw")
    page.get_by_role("button", name="Show readings").click()
    page.wait_for_url(re.compile("agg=raw"))
    assert "Register kWh" in page.locator("#readings-table thead").text_content()
    assert page.locator("#readings-table tbody tr").count() >= 60  # one a minute for the last hour or more


def test_every_page_is_served_with_a_content_security_policy_it_keeps(site, new_page):
    """No inline script or style anywhere: the policy forbids them, and the pages work under it."""
    data = site.data
    page = new_page()
    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    _login(page, data["staff"], data["password"], path="/admin/login/?next=/admin/")
    for path in [
        "/admin/",
        "/admin/overview/",
        "/admin/devices/device/",
        "/admin/devices/device/add/",
        "/admin/devices/device/import/",
        "/admin/billing/invoice/",
        "/admin/billing/heldinvoice/",
        f"/admin/billing/heldinvoice/{data['held_invoice_pk']}/change/",
        "/api/docs/",
    ]:
        response = page.goto(path)
        assert response.status == 200, path
        assert response.headers.get("content-security-policy"), path
        page.wait_for_load_state("networkidle")
    page.wait_for_selector("#swagger-ui .information-container")  # the API docs page ran its scripts


def test_a_customer_adds_a_meter_with_its_claim_code(site, new_page):
    data = site.data
    email, password = "nila@example.com", "claiming-passphrase-43"
    assert new_page().request.post("/api/auth/register", data={"email": email, "password": password}).status == 201
    page = new_page()
    _login(page, email, password)
    page.get_by_role("link", name="Add a meter").first.click()
    page.wait_for_url(f"{site.url}/add-meter/")
    page.get_by_role("textbox", name="Meter id").fill(data["unclaimed_device_id"])
    page.get_by_role("textbox", name="Claim code").fill("AAAA-AAAA-AA")
    page.get_by_role("button", name="Add meter").click()
    assert page.locator("#add-meter-error").inner_text() == "No meter with this id and claim code."
    _shot(page, "add-meter-desktop")
    page.get_by_role("textbox", name="Claim code").fill(data["claim_code"].lower().replace("-", " "))
    page.get_by_label("Name (optional)").fill("New flat")
    page.get_by_role("button", name="Add meter").click()
    page.wait_for_url(f"{site.url}/meters/{data['unclaimed_device_id']}/")
    page.goto("/")
    assert page.locator(f"[data-device-id='{data['unclaimed_device_id']}']").count() == 1
    assert "New flat" in page.locator(".meter-grid").inner_text()


def test_staff_provision_a_meter_and_see_its_claim_code_once(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["staff"], data["password"], path="/admin/login/?next=/admin/")
    page.goto("/admin/devices/device/add/")
    page.get_by_label("Meter id").fill("e2e-provisioned")
    page.get_by_label("Manufacturer serial").fill("SN-E2E-1")
    page.get_by_role("button", name="Provision").click()
    code = page.locator("#claim-codes .claim-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}", code)
    with page.expect_download() as download:
        page.locator("#claim-codes-csv").click()
    assert code in Path(download.value.path()).read_text()
    page.goto("/admin/devices/device/?q=e2e-provisioned")
    assert "not claimed yet" in page.locator("#result_list").inner_text()
    assert code not in page.content()


def test_a_customer_changes_their_password_and_old_api_tokens_stop_working(site, new_page):
    email, old_password, new_password = "meera@example.com", "first-passphrase-41", "second-passphrase-42"
    api = new_page().request  # a context of its own: no session cookie, the bearer token only
    assert api.post("/api/auth/register", data={"email": email, "password": old_password}).status == 201
    token = api.post("/api/auth/login", data={"email": email, "password": old_password}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/auth/me", headers=bearer).status == 200

    page = new_page()
    _login(page, email, old_password)
    page.get_by_role("link", name="My account").click()
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(old_password)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password confirmation").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{site.url}/account/")
    assert "Your password is changed" in page.locator(".messages").inner_text()
    _shot(page, "account-desktop")

    refused = api.get("/api/auth/me", headers=bearer)
    assert refused.status == 401
    assert refused.json()["detail"] == "This token has been revoked; sign in again."
    fresh = new_page()
    _login(fresh, email, new_password)
    assert fresh.url.rstrip("/") == site.url


def test_an_estimated_bill_is_badged_and_explained_and_a_held_one_is_not_shown(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["customer"], data["password"])
    page.goto("/invoices/")
    row = page.locator("tbody tr", has_text=data["estimated_invoice"]).first
    assert row.locator(".tag-estimate").inner_text().strip().lower() == "estimated"
    assert row.locator(".tag-estimate").is_visible()
    explanation = page.locator(f"tr.invoice-explanation[data-invoice='{data['estimated_invoice']}']")
    assert explanation.is_visible()
    text = " ".join(explanation.inner_text().split())
    assert "No meter reading reached us by" in text
    assert "this bill is estimated from your average daily use over the last 90 days." in text
    assert "was estimated at 120 kWh; the actual reading shows 104 kWh, so this bill takes off ₹80.50." in text
    assert data["held_invoice"] not in page.content()
    _shot(page, "invoices-estimated-desktop")
    assert page.request.get(f"/api/invoices/{data['held_invoice']}/pdf").status == 404


# Functions, not bare expressions (see LIVE_POWER_IS): the QR code image has arrived and decoded.
IMAGE_LOADED = "(id) => { const image = document.getElementById(id); return image.complete && image.naturalWidth > 0; }"


def _staff_record_payment(site, email: str, amount: str) -> dict:
    """Staff record a payment in the live server's database, with billing's own service."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.dashboard.e2e_payment", email, amount],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _rupees(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def test_a_customer_pays_part_of_a_bill_and_downloads_the_receipt(site, new_page):
    data = site.data
    page = new_page()
    _login(page, data["customer"], data["password"])

    # My meters: the account, what is due, and the bill on the invoices page.
    summary = page.locator("#account-summary")
    summary.wait_for()
    assert re.fullmatch(r"1\d{9}", page.locator("#consumer-number").inner_text())
    due_before = _rupees(page.locator("#amount-due").inner_text().split("by")[0])
    assert due_before >= Decimal(data["invoice_total"])
    page.get_by_role("link", name="Invoices", exact=True).click()
    assert "Issued" in page.locator("tbody tr", has_text=data["invoice"]).inner_text()

    # How to pay: the amount and the UPI QR code, an image the browser loaded under the page's policy.
    page.get_by_role("link", name="My meters").click()
    page.locator("#pay-now-link").click()
    page.wait_for_url(f"{site.url}/account/pay/")
    assert _rupees(page.locator("#pay-amount-due").inner_text()) == due_before
    page.wait_for_function(IMAGE_LOADED, arg="upi-qr")
    assert page.evaluate("() => document.getElementById('upi-qr').naturalWidth") > 100
    assert page.locator("#upi-link").get_attribute("href").startswith("upi://pay?pa=smartmeter@okaxis&")
    _shot(page, "pay-desktop")

    # Staff record a part-payment; the customer reloads and sees what is left.
    paid = _staff_record_payment(site, data["customer"], "100.00")
    page.reload()
    assert _rupees(page.locator("#pay-amount-due").inner_text()) == due_before - Decimal("100.00")
    page.wait_for_function(IMAGE_LOADED, arg="upi-qr")
    page.get_by_role("link", name="My meters").click()
    assert _rupees(page.locator("#account-balance").inner_text()) == Decimal(paid["balance"])
    _shot(page, "meters-account-desktop")

    # Receipts: the payment, and its PDF.
    page.locator("#statement-link").click()
    assert paid["receipt"] in page.locator("#statement-table").inner_text()
    page.get_by_role("navigation", name="Payments").get_by_role("link", name="Receipts").click()
    row = page.locator("tbody tr", has_text=paid["receipt"])
    assert "₹100.00" in row.inner_text()
    assert "UPI" in row.inner_text()
    _shot(page, "receipts-desktop")
    with page.expect_download() as download_info:
        row.get_by_role("link", name=f"Download receipt {paid['receipt']}").click()
    download = download_info.value
    assert download.suggested_filename == f"receipt-{paid['receipt']}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("payload_format", "shot", "expected"),
    [
        ("tasmota", "onboarding-tasmota", ["Configuration › Configure MQTT", "%prefix%/%topic%/", "Backlog MqttHost"]),
        (
            "shelly-gen2",
            "onboarding-shelly",
            ["Settings › MQTT", "RPC status notifications over MQTT", "MQTT.SetConfig"],
        ),
        ("dsmr-reader", "onboarding-dsmr", ["JSON telegram: topic", "/json"]),
    ],
)
def test_staff_see_how_to_connect_a_provisioned_meter_of_each_format(site, new_page, payload_format, shot, expected):
    data = site.data
    device_id = f"e2e-{payload_format}"
    page = new_page()
    _login(page, data["staff"], data["password"], path="/admin/login/?next=/admin/")
    page.goto("/admin/devices/device/add/")
    page.get_by_label("Meter id").fill(device_id)
    page.get_by_label("Payload format").select_option(payload_format)
    page.get_by_role("button", name="Provision").click()
    assert "Connect this meter" in page.locator("#onboarding").inner_text()
    page.locator("#claim-codes").get_by_role("link", name=device_id).click()
    panel = page.locator("#onboarding")
    text = panel.inner_text()
    assert "mqtt.example.com:8883" in text
    for words in expected:
        assert words in text
    assert "Waiting for the first message on" in page.locator("#onboarding-waiting").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOTS / f"{shot}.png"))
