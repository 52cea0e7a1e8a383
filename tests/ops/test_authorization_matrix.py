"""Authorization matrix: every API endpoint and the live WebSocket, tried as an anonymous
caller, the meter's owner, another customer and staff. Nobody reads or changes what is
not theirs: another customer gets the same 404 as for a meter that does not exist.

`test_every_api_route_is_in_the_matrix` walks the URLconf, so an endpoint added later
without a row here fails the suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from devices.models import Device
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory, UserFactory

ROLES = ("anonymous", "owner", "other", "staff")
# Routes anyone may call: signing in/up and the schema and its docs page.
PUBLIC_ROUTES = {"auth-login", "auth-register", "schema", "api-docs"}


@dataclass
class Row:
    method: str
    path: str  # {device} = the owner's meter, {invoice} = its invoice number, {note} = a credit note on it,
    # {receipt} = a payment's receipt number
    # body strings may hold {role}, {refresh} (a refresh token of the caller; anonymous: none valid) and
    # {consumer} (the owner's consumer number)
    expected: dict[str, int]
    body: dict | None = None
    fresh_device: bool = False  # the request changes the meter: use a new one per role
    query: dict = field(default_factory=dict)


def _owner_only(ok: int = 200) -> dict[str, int]:
    return {"anonymous": 401, "owner": ok, "other": 404, "staff": ok}


def _signed_in(ok: int = 200) -> dict[str, int]:
    return {"anonymous": 401, "owner": ok, "other": ok, "staff": ok}


def _staff_only(ok: int) -> dict[str, int]:
    return {"anonymous": 401, "owner": 403, "other": 403, "staff": ok}


def _tariff_body(offset_days: int) -> dict:
    return {
        "slabs": [
            {"range_start": 0, "range_end": 100, "rate": "3.50"},
            {"range_start": 101, "range_end": None, "rate": "5.00"},
        ],
        "fixed_charge": "50.00",
        "tax_rate": "0.18",
        "effective_from": (timezone.localdate() + timedelta(days=offset_days)).isoformat(),
    }


# The refresh token is the credential of these two: "anonymous" sends no valid one.
_REFRESH_TOKEN_HOLDER = {"anonymous": 401, "owner": 200, "other": 200, "staff": 200}

MATRIX: dict[str, list[Row]] = {
    "auth-me": [Row("GET", "/api/auth/me", _signed_in())],
    "auth-refresh": [Row("POST", "/api/auth/refresh", _REFRESH_TOKEN_HOLDER, body={"refresh": "{refresh}"})],
    "auth-logout": [
        Row(
            "POST",
            "/api/auth/logout",
            _REFRESH_TOKEN_HOLDER | {"owner": 204, "other": 204, "staff": 204},
            body={"refresh": "{refresh}"},
        )
    ],
    "device-list": [
        Row("GET", "/api/devices", _signed_in()),
        # Claiming: each role has its own provisioned meter "open-<role>" with CLAIM_CODE (see `world`).
        Row("POST", "/api/devices", _signed_in(201), body={"device_id": "open-{role}", "claim_code": CLAIM_CODE}),
        # Claiming a meter already claimed (even by the caller) or one that does not exist: the
        # same 404 for everyone signed in.
        Row("POST", "/api/devices", _signed_in(404), body={"device_id": "meter-matrix", "claim_code": CLAIM_CODE}),
        Row("POST", "/api/devices", _signed_in(404), body={"device_id": "meter-nowhere", "claim_code": CLAIM_CODE}),
        # Provisioning is for staff; a customer's request without a claim code is simply invalid.
        Row(
            "POST",
            "/api/devices",
            {"anonymous": 401, "owner": 400, "other": 400, "staff": 201},
            body={"device_id": "new-{role}", "serial": "SN-{role}", "sanctioned_load_kw": "7.50"},
        ),
    ],
    "device-detail": [
        Row("GET", "/api/devices/{device}", _owner_only()),
        Row("DELETE", "/api/devices/{device}", _owner_only(204), fresh_device=True),
    ],
    "readings-series": [Row("GET", "/api/readings/{device}", _owner_only())],
    "readings-latest": [Row("GET", "/api/readings/{device}/latest", _owner_only())],
    "readings-csv": [Row("GET", "/api/readings/{device}/csv", _owner_only())],
    "device-readings-series": [Row("GET", "/api/devices/{device}/readings", _owner_only())],
    "device-readings-latest": [Row("GET", "/api/devices/{device}/readings/latest", _owner_only())],
    "bill-preview": [Row("GET", "/api/billing/{device}", _owner_only())],
    "invoice-list": [Row("GET", "/api/invoices/{device}", _owner_only())],
    "invoice-pdf": [Row("GET", "/api/invoices/{invoice}/pdf", _owner_only())],
    "invoice-notes": [
        Row(
            "POST",
            "/api/invoices/{invoice}/notes",
            _staff_only(201),
            body={"kind": "debit", "amount": "10.00", "description": "Meter test fee"},
        )
    ],
    # Billing the month again under the tariff it was billed with changes nothing: 409, nothing issued.
    "invoice-rerate": [
        Row("POST", "/api/invoices/{invoice}/rerate", _staff_only(409), body={"reprice": True, "reason": "Check"})
    ],
    "note-pdf": [Row("GET", "/api/notes/{note}/pdf", _owner_only())],
    "payments": [
        Row("GET", "/api/payments", _staff_only(200)),
        Row(
            "POST",
            "/api/payments",
            _staff_only(201),
            body={"consumer_number": "{consumer}", "amount": "100.00", "method": "cash"},
        ),
    ],
    # Reversing is for staff; the owner's receipt is theirs and staff's, and another customer's 404.
    "payment-reverse": [Row("POST", "/api/payments/{receipt}/reverse", _staff_only(200), body={"reason": "Bounced"})],
    "payment-receipt": [Row("GET", "/api/payments/{receipt}/receipt", _owner_only())],
    # {consumer} = the owner's consumer number, {receipt} = a receipt of theirs. Without ?consumer_number= each
    # caller reads their own account: "other" and staff have none yet (404).
    "account": [
        Row("GET", "/api/account", {"anonymous": 401, "owner": 200, "other": 404, "staff": 404}),
        Row("GET", "/api/account?consumer_number={consumer}", _owner_only()),
    ],
    "account-statement": [
        Row("GET", "/api/account/statement", {"anonymous": 401, "owner": 200, "other": 404, "staff": 404}),
        Row("GET", "/api/account/statement?consumer_number={consumer}", _owner_only()),
        Row("GET", "/api/account/statement?consumer_number={consumer}&format=csv", _owner_only()),
        Row("GET", "/api/account/statement?consumer_number={consumer}&format=pdf", _owner_only()),
    ],
    "account-receipts": [Row("GET", "/api/account/receipts?consumer_number={consumer}", _owner_only())],
    "account-receipt-pdf": [Row("GET", "/api/account/receipts/{receipt}/pdf", _owner_only())],
    "tariffs": [
        Row("GET", "/api/tariffs", _signed_in()),
        Row("POST", "/api/tariffs", _staff_only(201), body=_tariff_body(40)),
        Row("PUT", "/api/tariffs", _staff_only(200), body=_tariff_body(50)),
    ],
}


def _api_routes() -> dict[str, str]:
    """name -> route of every named URL under /api/."""
    found = {}

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name:
                route = prefix + str(pattern.pattern)
                if route.startswith("api/"):
                    found[pattern.name] = route

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_is_in_the_matrix():
    missing = set(_api_routes()) - set(MATRIX) - PUBLIC_ROUTES
    assert not missing, f"add rows to MATRIX for: {sorted(missing)}"


@pytest.fixture
def world(db, settings, tmp_path):
    """An owner with a meter, a reading, a tariff and an issued invoice; another customer; staff."""
    settings.MEDIA_ROOT = tmp_path / "media"
    owner = UserFactory(email="owner@example.com")
    other = UserFactory(email="other@example.com")
    staff = UserFactory(email="ops@example.com", is_staff=True)
    device = DeviceFactory(device_id="meter-matrix", owner=owner)
    DeviceFactory(device_id="meter-other", owner=other)
    for role in ROLES:
        UnclaimedDeviceFactory(device_id=f"open-{role}")
    world = {
        "users": {"owner": owner, "other": other, "staff": staff},
        "device": device,
        "invoice": None,
        "note": None,
        "consumer": "",
        "receipt": None,
    }
    routes = _api_routes()
    if "device-readings-latest" in routes or "readings-latest" in routes:
        from readings.stores import get_store
        from readings.types import Reading

        get_store().write_many(
            [Reading("meter-matrix", timezone.now() - timedelta(minutes=5), 230.0, 2.0, 450.0, 12.5, 0.97, -60)]
        )
    if {"invoice-pdf", "tariffs", "invoice-notes", "invoice-rerate", "note-pdf", "payments"} & set(routes):
        world["invoice"] = _issue_invoice(device)
    if "note-pdf" in routes:
        world["note"] = _issue_note(world["invoice"])
    if "payments" in routes:
        world["consumer"], world["receipt"] = _record_payment(world["invoice"])
    return world


def _issue_invoice(device):
    from billing.months import month_containing
    from tests.factories import InvoiceFactory

    last_month = month_containing(timezone.now() - timedelta(days=40), timezone.get_current_timezone())
    return InvoiceFactory(device=device, month=last_month).number


def _issue_note(invoice_number):
    from decimal import Decimal

    from billing.models import Invoice
    from billing.services.notes import note_issue

    invoice = Invoice.objects.get(number=invoice_number)
    return note_issue(
        kind="credit", reason="adjustment", amount=Decimal("1.00"), description="Goodwill", invoice=invoice
    ).number


def _record_payment(invoice_number):
    from decimal import Decimal

    from billing.models import Invoice
    from billing.selectors import billing_today
    from billing.services.payments import payment_record

    account = Invoice.objects.get(number=invoice_number).account
    payment = payment_record(account=account, amount=Decimal("50.00"), method="cash", received_on=billing_today())
    return account.consumer_number, payment.number


def _client(api, world, role):
    return api() if role == "anonymous" else api(world["users"][role])


def _refresh_token(world, role) -> str:
    from accounts.services import user_tokens_issue

    return "not-a-refresh-token" if role == "anonymous" else user_tokens_issue(user=world["users"][role]).refresh


def _cases():
    for name, rows in MATRIX.items():
        for index, row in enumerate(rows):
            for role in ROLES:
                yield pytest.param(name, index, role, id=f"{row.method} {row.path} as {role}")


@pytest.mark.parametrize(("route_name", "row_index", "role"), list(_cases()))
def test_matrix(route_name, row_index, role, world, api):
    assert route_name in _api_routes(), f"the matrix names route {route_name}, which the URLconf no longer has"
    row = MATRIX[route_name][row_index]
    device = world["device"]
    if row.fresh_device:
        device = DeviceFactory(device_id=f"meter-{role}-fresh", owner=world["users"]["owner"])
    path = row.path.format(
        device=device.device_id,
        invoice=world["invoice"],
        note=world["note"],
        consumer=world["consumer"],
        receipt=world["receipt"],
    )
    body = None
    if row.body is not None:
        refresh = _refresh_token(world, role)
        body = {
            key: value.format(role=role, refresh=refresh, consumer=world["consumer"])
            if isinstance(value, str)
            else value
            for key, value in row.body.items()
        }
    response = getattr(_client(api, world, role), row.method.lower())(path, body, format="json")
    assert response.status_code == row.expected[role], response.content[:300]
    if response.status_code >= 400:
        assert "detail" in response.json()
    if row.method == "DELETE" and role in ("anonymous", "other"):
        device.refresh_from_db()
        assert device.status != "decommissioned"


@pytest.mark.django_db
def test_lists_show_customers_only_their_own_meters(world, api):
    def ids(role):
        return {row["device_id"] for row in _client(api, world, role).get("/api/devices").json()}

    assert ids("owner") == {"meter-matrix"}
    assert ids("other") == {"meter-other"}
    assert {"meter-matrix", "meter-other"} <= ids("staff")


@pytest.mark.django_db
def test_a_customer_cannot_register_a_meter_to_someone_else(world, api):
    response = _client(api, world, "other").post(
        "/api/devices",
        {"device_id": "meter-gift", "name": "Gift", "owner": world["users"]["owner"].pk},
        format="json",
    )
    assert response.status_code in (400, 403, 404)
    assert not Device.objects.filter(device_id="meter-gift").exists()


@pytest.mark.django_db
def test_lists_show_no_customer_an_unclaimed_meter(world, api):
    for role in ("owner", "other"):
        ids = {row["device_id"] for row in _client(api, world, role).get("/api/devices").json()}
        assert not {f"open-{each}" for each in ROLES} & ids


@pytest.mark.django_db
def test_another_customers_meter_looks_exactly_like_a_missing_one(world, api):
    client = _client(api, world, "other")
    for path in ["/api/devices/{}", "/api/invoices/{}", "/api/billing/{}"]:
        theirs = client.get(path.format("meter-matrix"))
        missing = client.get(path.format("meter-nowhere"))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["detail"].replace("meter-matrix", "X") == missing.json()["detail"].replace(
            "meter-nowhere", "X"
        )


def _fields(path: str) -> set[str]:
    return {part for part in ("{device}", "{invoice}", "{note}") if part in path}


# Ids no meter or invoice could have, as sent (percent-encoded): NUL, non-ASCII, too long.
IMPOSSIBLE_IDS = ["a%00b", "m%C3%A9ter", "m" * 65]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("impossible_id", IMPOSSIBLE_IDS)
def test_an_impossible_id_is_the_same_json_404_for_everyone_on_every_route(impossible_id, role, world, api):
    """No route takes such an id, so no view (and no query) sees it: signed in or not, 404."""
    placeholders = ("{device}", "{invoice}", "{note}", "{receipt}")
    rows = [row for rows in MATRIX.values() for row in rows if any(each in row.path for each in placeholders)]
    assert len(rows) >= 12
    client = _client(api, world, role)
    for row in rows:
        path = row.path.format(device=impossible_id, invoice=impossible_id, note=impossible_id, receipt=impossible_id)
        response = getattr(client, row.method.lower())(path, row.body, format="json")
        assert response.status_code == 404, (row.method, path, response.content[:200])
        assert response.json()["detail"].startswith("No API endpoint at /api/")


# --- the live WebSocket, through the full ASGI stack (session cookie + origin check) ----


@pytest.mark.django_db(transaction=True)
def test_live_socket_matrix(settings, mosquitto):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from smartmeter.routing import websocket_urlpatterns

    assert websocket_urlpatterns, "the live-power WebSocket route is missing"
    from dashboard.live import live_fanout_reset
    from smartmeter.asgi import application

    settings.MQTT_URL = f"mqtt://{mosquitto[0]}:{mosquitto[1]}"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    live_fanout_reset()
    owner = UserFactory(email="ws-owner@example.com")
    other = UserFactory(email="ws-other@example.com")
    staff = UserFactory(email="ws-staff@example.com", is_staff=True)
    device = DeviceFactory(device_id="meter-ws-matrix", owner=owner)

    def cookie_for(user):
        if user is None:
            return b""
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    async def attempt(cookie):
        communicator = WebsocketCommunicator(
            application,
            f"/ws/devices/{device.device_id}/live",
            headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")],
        )
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    try:
        outcome = {
            role: async_to_sync(attempt)(cookie_for(user))
            for role, user in [("anonymous", None), ("owner", owner), ("other", other), ("staff", staff)]
        }
    finally:
        live_fanout_reset()
    assert outcome == {"anonymous": False, "owner": True, "other": False, "staff": True}
