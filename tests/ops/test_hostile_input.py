"""Hostile input gets a clear 4xx, never a 500 (docs/reliability.md#hostile-api-input):
ids no meter or invoice could have never reach a view or a query, bodies over the size
limit get a 413, JSON nested too deeply a 400, and a WebSocket path no route matches is
refused. In-process here (WSGI test client, the ASGI app); tests/ops/test_hostile_server.py
sends the same through a real daphne."""

import asyncio
import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import Resolver404, resolve

from billing.converters import INVOICE_NUMBER_CHARS
from ops.request_limits import json_nesting_exceeds
from ops.websocket import CLOSE_NO_ROUTE
from smartmeter.errors import api_not_found
from tests.factories import DeviceFactory, InvoiceFactory, UserFactory

# As sent on the wire (percent-encoded) and as Django decodes them.
IMPOSSIBLE_IDS = {
    "nul": ("a%00b", "a\x00b"),
    "non-ascii": ("m%C3%A9ter", "méter"),
    "too-long": ("m" * 65, "m" * 65),
}
ID_ROUTES = [
    ("GET", "/api/devices/{}"),
    ("DELETE", "/api/devices/{}"),
    ("GET", "/api/devices/{}/readings"),
    ("GET", "/api/devices/{}/readings/latest"),
    ("GET", "/api/readings/{}"),
    ("GET", "/api/readings/{}/latest"),
    ("GET", "/api/readings/{}/csv"),
    ("GET", "/api/billing/{}"),
    ("GET", "/api/invoices/{}"),
    ("GET", "/api/invoices/{}/pdf"),
]
DEEP = 100_000


@pytest.fixture
def owner(db):
    user = UserFactory()
    DeviceFactory(device_id="meter-hostile", owner=user)
    return user


# --- ids that no meter or invoice could have ------------------------------------------


@pytest.mark.parametrize("kind", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
def test_an_impossible_id_in_an_api_path_is_a_json_404_before_any_view(method, route, kind, owner, api):
    sent, decoded = IMPOSSIBLE_IDS[kind]
    # No route takes it: the catch-all answers, so no view (and no query, where PostgreSQL
    # would refuse the NUL with an error) ever sees it.
    assert resolve(route.format(decoded)).func is api_not_found

    response = getattr(api(owner), method.lower())(route.format(sent))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("No API endpoint at /api/")


@pytest.mark.parametrize("kind", IMPOSSIBLE_IDS)
def test_an_impossible_id_in_a_meter_page_path_is_the_404_page(kind, owner):
    sent, decoded = IMPOSSIBLE_IDS[kind]
    with pytest.raises(Resolver404):
        resolve(f"/meters/{decoded}/")
    client = Client()
    client.force_login(owner)

    response = client.get(f"/meters/{sent}/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_unknown_api_path_is_a_json_404_for_writes_of_a_browser_session_too(method, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = getattr(client, method)("/api/devices/a%00b")

    assert response.status_code == 404  # not CSRF's HTML 403: the catch-all changes nothing
    assert response.json()["detail"].startswith("No API endpoint")


@pytest.mark.django_db
def test_an_api_path_no_route_can_match_is_still_a_json_404():
    # The catch-all's `path` converter does not match a newline; handler404 answers JSON under /api/.
    response = Client().get("/api/devices/a%0Ab")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_valid_ids_still_reach_their_views(owner, api):
    assert api(owner).get("/api/devices/meter-hostile").status_code == 200
    assert api(owner).get("/api/devices/meter-absent").json() == {"detail": "No meter 'meter-absent'."}


@pytest.mark.django_db
def test_every_invoice_number_billing_makes_fits_the_pdf_route(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    invoice = InvoiceFactory(device=DeviceFactory(pk=987_654_321))

    # A new number format must change the converter's pattern with it (billing/converters.py).
    assert re.fullmatch(INVOICE_NUMBER_CHARS, invoice.number)
    assert resolve(f"/api/invoices/{invoice.number}/pdf").url_name == "invoice-pdf"


# --- bodies over the size limit ------------------------------------------------------


@pytest.mark.django_db
def test_a_10_mb_body_to_register_is_a_413_before_it_is_read(settings):
    body = json.dumps({"email": "big@example.com", "password": "x" * 10_000_000, "name": "Big"})

    response = Client().post("/api/auth/register", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body too large: at most {settings.REQUEST_MAX_BODY_BYTES} bytes."}


@pytest.mark.django_db
def test_a_body_at_the_limit_is_read(settings):
    settings.REQUEST_MAX_BODY_BYTES = 2000
    body = json.dumps({"email": "fits@example.com", "password": "a fine pass phrase", "name": "F" * 100})
    padded = body + " " * (2000 - len(body))

    response = Client().post("/api/auth/register", padded, content_type="application/json")

    assert response.status_code == 201


@pytest.mark.django_db
def test_an_oversize_body_elsewhere_gets_a_plain_413(settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000

    response = Client().post("/login/", {"email": "a@example.com", "password": "p" * 2000})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"at most 1000 bytes" in response.content


@pytest.mark.django_db
def test_the_admin_has_its_own_larger_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    settings.REQUEST_MAX_BODY_BYTES_ADMIN = 5000
    client = Client()

    assert client.post("/admin/login/", {"username": "a@example.com", "password": "p" * 2000}).status_code != 413
    assert client.post("/admin/login/", {"username": "a@example.com", "password": "p" * 6000}).status_code == 413


@pytest.mark.django_db
def test_too_many_form_fields_to_the_api_is_a_400_not_a_500():
    body = "&".join(f"field{n}=1" for n in range(1500))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS

    response = Client().post("/api/auth/register", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "detail" in response.json()


# --- JSON nested too deeply ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deep_json_to_register_is_a_400_with_the_reason(opening, settings):
    response = Client().post("/api/auth/register", opening * DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": f"JSON nested deeper than {settings.REQUEST_MAX_JSON_DEPTH} levels."}


def test_deep_json_to_an_authenticated_endpoint_is_a_400_with_the_reason(api, db):
    staff = UserFactory(is_staff=True)
    body = '{"slabs": ' + "[" * DEEP + "]" * DEEP + "}"

    response = api(staff).post("/api/tariffs", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"] == "JSON nested deeper than 64 levels."


@pytest.mark.django_db
def test_json_as_deep_as_the_limit_is_parsed(settings):
    depth = settings.REQUEST_MAX_JSON_DEPTH
    at_limit = "[" * (depth - 1) + "{}" + "]" * (depth - 1)

    response = Client().post("/api/auth/register", at_limit, content_type="application/json")

    assert response.status_code == 400
    assert "nested deeper" not in response.json()["detail"]  # parsed; rejected for not being an object


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * 65, True),
        ("[" * 64 + "]" * 64, False),
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets inside a string are text
        ('["\\"' + "[" * 100 + '"]', False),  # an escaped quote does not end the string
        ('"unterminated ' + "[" * 100, False),
        ("[]" * 10_000, False),  # many brackets, never deep
        ('[{"a": [' * 30 + "1" + "]}]" * 30, True),  # 90 levels, objects and arrays mixed
    ],
)
def test_nesting_is_measured_outside_strings(text, too_deep):
    assert json_nesting_exceeds(text, 64) is too_deep


def test_measuring_nesting_is_linear_in_the_size_of_the_body():
    import time

    started = time.perf_counter()
    assert not json_nesting_exceeds("[" + "[1]," * 250_000 + "[1]]", 64)  # 1 MB of shallow brackets
    assert time.perf_counter() - started < 1.0


# --- bodies cut off while they arrive (chunked, no Content-Length), at the ASGI guard ---


def _asgi_post(path: str, chunks: list[bytes], headers: list | None = None) -> tuple[list[dict], int]:
    """Send a POST straight to the ASGI app; (messages it sent, body chunks it received)."""
    from smartmeter.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"), *(headers or [])],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    incoming = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    incoming[-1]["more_body"] = False
    sent = []
    received = 0

    async def receive():
        nonlocal received
        if incoming:
            received += 1
            return incoming.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the answer comes

    async def send(message):
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    return sent, received


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 100_000
    chunks = [b"[" * 65_536] * 160  # 10 MiB if it were all read

    sent, received = _asgi_post("/api/auth/register", chunks)

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"detail": "Request body too large: at most 100000 bytes."}
    assert received == 2  # of 160: cut off as soon as the limit was passed


def test_a_declared_oversize_body_is_refused_without_reading_it(settings):
    settings.REQUEST_MAX_BODY_BYTES = 100_000
    sent, received = _asgi_post("/api/auth/register", [b"{}"], headers=[(b"content-length", b"10485760")])

    assert sent[0]["status"] == 413
    assert received == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_under_the_limit_reaches_django(settings):
    settings.REQUEST_MAX_BODY_BYTES = 100_000

    sent, received = _asgi_post("/api/auth/register", [b"{", b"}"])

    assert received == 2
    assert sent[0]["status"] == 400  # Django's answer (a field is missing), not the guard's


# --- WebSocket paths no route matches --------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/devices/m%C3%A9ter/live", "/ws/devices/a%00b/live", "/ws/nothing-here"])
def test_a_websocket_path_no_route_matches_is_refused_cleanly(path, caplog):
    from smartmeter.asgi import application

    async def attempt():
        communicator = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")]
        )
        connected, code = await communicator.connect(timeout=5)
        await communicator.wait()
        return connected, code

    with caplog.at_level(logging.WARNING):
        connected, code = async_to_sync(attempt)()

    assert (connected, code) == (False, CLOSE_NO_ROUTE)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
