import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.factories import DEFAULT_PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]


# --- a PDF-like API view and page, mounted only for the PDF tests --------------------


class _InvoicePdfApi(APIView):
    ratelimit_scope = "pdf"  # as billing.apis' invoice PDF view declares

    def get(self, request, invoice_id):
        return Response({"invoice_id": invoice_id})


urlpatterns = [
    path("api/invoices/<str:invoice_id>/pdf", _InvoicePdfApi.as_view()),
]


def _login(client, email="nobody@example.com", password="wrong-password", ip="203.0.113.7"):  # noqa: S107
    return client.post("/api/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def _assert_429(response):
    assert response.status_code == 429, response.content
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    body = response.json()
    assert set(body) == {"detail"}
    assert "Too many requests" in body["detail"] or "throttled" in body["detail"]


@pytest.mark.django_db
def test_login_is_limited_per_ip_and_answers_429_json_with_retry_after(api, rate_limits):
    rate_limits.RATELIMIT_LOGIN = "10/m"
    client = api()
    for _ in range(10):
        assert _login(client).status_code == 401
    _assert_429(_login(client))
    # Even the right password is refused from that address until the window ends...
    user = UserFactory(email="limited@example.com")
    assert _login(client, email=user.email, password=DEFAULT_PASSWORD).status_code == 429
    # ...while another address signs in normally.
    assert _login(client, email=user.email, password=DEFAULT_PASSWORD, ip="203.0.113.8").status_code == 200


@pytest.mark.django_db
def test_register_is_limited_per_ip(api, rate_limits):
    rate_limits.RATELIMIT_REGISTER = "3/m"
    client = api()
    for n in range(3):
        response = client.post(
            "/api/auth/register",
            {"email": f"new{n}@example.com", "password": "s3cure-enough-pass", "name": "N"},
            format="json",
            REMOTE_ADDR="198.51.100.4",
        )
        assert response.status_code == 201
    response = client.post(
        "/api/auth/register",
        {"email": "new9@example.com", "password": "s3cure-enough-pass", "name": "N"},
        format="json",
        REMOTE_ADDR="198.51.100.4",
    )
    _assert_429(response)


@pytest.mark.django_db
def test_api_is_limited_per_user_not_per_address(api, rate_limits, customer, other_customer):
    rate_limits.RATELIMIT_API = "5/m"
    first, second = api(customer), api(other_customer)
    for _ in range(5):
        assert first.get("/api/devices").status_code == 200
    _assert_429(first.get("/api/devices"))
    _assert_429(first.get("/api/auth/me"))  # one budget for the whole API
    assert second.get("/api/devices").status_code == 200  # same address, other user


@pytest.mark.django_db
def test_anonymous_api_calls_are_limited_per_address(api, rate_limits):
    rate_limits.RATELIMIT_API = "2/m"
    client = api()
    body = {"refresh": "not-a-token"}
    assert client.post("/api/auth/refresh", body, format="json", REMOTE_ADDR="192.0.2.1").status_code == 401
    assert client.post("/api/auth/refresh", body, format="json", REMOTE_ADDR="192.0.2.1").status_code == 401
    _assert_429(client.post("/api/auth/refresh", body, format="json", REMOTE_ADDR="192.0.2.1"))
    assert client.post("/api/auth/refresh", body, format="json", REMOTE_ADDR="192.0.2.2").status_code == 401


@pytest.mark.django_db
def test_rates_come_from_settings_and_an_empty_rate_switches_a_scope_off(api, rate_limits):
    rate_limits.RATELIMIT_LOGIN = ""
    rate_limits.RATELIMIT_LOGIN_ACCOUNT = ""
    client = api()
    for _ in range(15):
        assert _login(client).status_code == 401


@pytest.mark.django_db
def test_limits_are_off_by_default_in_the_test_suite(api):
    client = api()
    for _ in range(15):
        assert _login(client).status_code == 401


@pytest.mark.django_db
@pytest.mark.urls("tests.ops.test_ratelimits")
def test_pdf_downloads_have_their_own_limit(api, rate_limits, customer):
    rate_limits.RATELIMIT_PDF = "2/m"
    rate_limits.RATELIMIT_API = "100/m"
    user_api = api(customer)
    assert user_api.get("/api/invoices/inv-1/pdf").status_code == 200
    assert user_api.get("/api/invoices/inv-2/pdf").status_code == 200
    _assert_429(user_api.get("/api/invoices/inv-3/pdf"))


@pytest.mark.django_db
def test_session_login_page_is_limited_too(client, rate_limits):
    rate_limits.RATELIMIT_LOGIN = "2/m"
    for _ in range(2):
        client.post("/login/", {"username": "x@example.com", "password": "nope"}, REMOTE_ADDR="192.0.2.9")
    response = client.post(
        "/login/", {"username": "x@example.com", "password": "nope"}, REMOTE_ADDR="192.0.2.9", HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 429
    assert b"Too many requests" in response.content


@pytest.mark.django_db
def test_a_cache_outage_fails_open_instead_of_500(api, settings):
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"},
    }
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_LOGIN = "1/m"
    client = api()
    assert _login(client).status_code == 401
    assert _login(client).status_code == 401


# --- across processes --------------------------------------------------------------

_CLIENT_SCRIPT = """
import json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR=sys.argv[1])
codes = [
    client.post("/api/auth/login", {}, content_type="application/json").status_code
    for _ in range(int(sys.argv[2]))
]
print(json.dumps(codes))
"""


def _run_two_processes(tmp_path, *, redis_url: str, requests_each: int) -> list[int]:
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"  # fresh key for every run
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RATELIMIT_LOGIN": "10/h",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT_SCRIPT, address, str(requests_each)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        codes += json.loads(out.strip().splitlines()[-1])
    return codes


def test_with_redis_the_login_limit_holds_across_two_processes(tmp_path, redis_url):
    codes = _run_two_processes(tmp_path, redis_url=redis_url, requests_each=8)
    # 16 attempts from one address in two processes: exactly 10 pass (400: empty body), 6 are refused.
    assert sorted(codes) == [400] * 10 + [429] * 6


def test_without_redis_each_process_counts_on_its_own(tmp_path):
    codes = _run_two_processes(tmp_path, redis_url="", requests_each=8)
    assert codes == [400] * 16  # documented: the embedded run limits per process


@pytest.mark.django_db
def test_staff_sign_in_to_the_admin_is_limited_and_the_right_password_waits_too(client, rate_limits, staff):
    rate_limits.RATELIMIT_LOGIN = "5/m"
    for attempt in range(5):
        response = client.post(
            "/admin/login/", {"username": staff.email, "password": f"guess-{attempt}"}, REMOTE_ADDR="192.0.2.60"
        )
        assert response.status_code == 200  # the form again, with its error
    refused = client.post(
        "/admin/login/", {"username": staff.email, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="192.0.2.60"
    )
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("surface", "field"), [("/api/auth/login", "email"), ("/login/", "username"), ("/admin/login/", "username")]
)
def test_an_account_is_limited_across_addresses_and_the_answer_does_not_say_whether_it_exists(
    client, rate_limits, customer, surface, field
):
    rate_limits.RATELIMIT_LOGIN = "100/m"
    rate_limits.RATELIMIT_LOGIN_ACCOUNT = "3/m"

    def attempt(account: str, n: int):
        body = {field: account, "password": f"wrong-{n}"}
        if surface.startswith("/api/"):
            return client.post(surface, body, content_type="application/json", REMOTE_ADDR=f"198.51.100.{n}")
        return client.post(surface, body, REMOTE_ADDR=f"198.51.100.{n}", HTTP_ACCEPT="text/html")

    answers = {}
    for account in (customer.email, "nobody-here@example.com"):
        for n in range(3):
            assert attempt(account, n).status_code in (200, 401)
        refused = attempt(account.upper(), 9)  # the same account however it is typed, from a fourth address
        assert refused.status_code == 429
        answers[account] = refused.content.decode().replace(refused["Retry-After"], "N")
    assert answers[customer.email] == answers["nobody-here@example.com"]
    assert attempt("someone-else@example.com", 10).status_code in (200, 401)  # other accounts are not locked


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_buy_more_attempts(api, rate_limits):
    rate_limits.RATELIMIT_LOGIN = "3/m"
    rate_limits.RATELIMIT_LOGIN_ACCOUNT = "100/m"
    client = api()
    for n in range(3):
        assert _login(client, email=f"a{n}@example.com", ip="203.0.113.9").status_code == 401
    forged = client.post(
        "/api/auth/login",
        {"email": "z@example.com", "password": "wrong"},
        format="json",
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.77",
    )
    _assert_429(forged)


@pytest.mark.django_db
def test_behind_one_trusted_proxy_the_rightmost_forwarded_address_is_the_client(api, rate_limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    rate_limits.RATELIMIT_LOGIN = "3/m"
    rate_limits.RATELIMIT_LOGIN_ACCOUNT = "100/m"
    client = api()

    def through_proxy(client_address: str, forged: str, n: int):
        return client.post(
            "/api/auth/login",
            {"email": f"p{n}@example.com", "password": "wrong"},
            format="json",
            REMOTE_ADDR="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=f"{forged}, {client_address}",
        )

    for n in range(3):
        assert through_proxy("198.51.100.20", f"192.0.2.{n}", n).status_code == 401
    _assert_429(through_proxy("198.51.100.20", "192.0.2.99", 3))  # a new forged entry changes nothing
    assert through_proxy("198.51.100.21", "192.0.2.1", 4).status_code == 401  # another client behind the proxy
