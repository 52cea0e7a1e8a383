import copy
import io
import json
import logging
import logging.config
import re
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.models import CHANGE, DELETION, LogEntry

from ops.audit import audit_log
from ops.logging import redact_text
from tests.factories import DEFAULT_PASSWORD, DeviceFactory
from tests.support.admin_forms import device_change_form

SECRETS = ["hunter2-secret", "s3cr3t-broker-pass", "eyJhbGciOiJIUzI1NiJ9.payload.sig", "tok-123456", "k3y-abcdef"]


@pytest.fixture
def log_lines():
    """Capture what the production handler writes: the project's filters and the
    JSON formatter from settings.LOGGING, on the root logger."""
    config = copy.deepcopy(django_settings.LOGGING)  # the configurator pops "()" from what it is given
    filters = {
        name: logging.config.DictConfigurator({}).configure_filter(spec) for name, spec in config["filters"].items()
    }
    formatter = logging.config.DictConfigurator({}).configure_formatter(dict(config["formatters"]["json"]))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for name in config["handlers"]["console"]["filters"]:
        handler.addFilter(filters[name])
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(previous_level)


def _assert_no_secret(lines):
    text = json.dumps(lines)
    for secret in SECRETS:
        assert secret not in text, secret


@pytest.mark.django_db
def test_every_log_line_of_a_request_carries_its_request_id(api, customer, log_lines):
    response = api(customer).get("/api/devices", HTTP_X_REQUEST_ID="req-abc-123")
    assert response["X-Request-ID"] == "req-abc-123"
    access = [line for line in log_lines() if line["logger"] == "smartmeter.request"]
    assert access, "one access line per request"
    assert access[-1]["request_id"] == "req-abc-123"
    assert access[-1]["path"] == "/api/devices"
    assert access[-1]["status"] == 200
    assert access[-1]["user_id"] == customer.pk
    assert {"time", "level", "logger", "message"} <= set(access[-1])


@pytest.mark.django_db
def test_django_error_lines_carry_the_request_id_too(api, log_lines):
    api().get("/api/devices", HTTP_X_REQUEST_ID="req-401")
    django_lines = [line for line in log_lines() if line["logger"] == "django.request"]
    assert django_lines[-1]["request_id"] == "req-401"
    assert django_lines[-1]["status_code"] == 401


@pytest.mark.django_db
def test_a_missing_or_malformed_request_id_is_replaced(api):
    generated = api().get("/api/devices")["X-Request-ID"]
    assert len(generated) == 32
    assert int(generated, 16) >= 0
    forged = api().get("/api/devices", HTTP_X_REQUEST_ID="bad id\nInjected: yes")["X-Request-ID"]
    assert forged != "bad id\nInjected: yes"
    assert len(forged) == 32


def test_lines_outside_requests_have_a_placeholder_and_keep_extra_fields(log_lines):
    # A consumer's writer thread: a context no request ever touched.
    worker = threading.Thread(
        target=logging.getLogger("readings.ingest").info,
        args=("Stored batch",),
        kwargs={"extra": {"device_id": "meter-001", "count": 3}},
    )
    worker.start()
    worker.join()
    line = [line for line in log_lines() if line["logger"] == "readings.ingest"][-1]
    assert line["request_id"] == "-"
    assert line["device_id"] == "meter-001"
    assert line["count"] == 3
    assert line["message"] == "Stored batch"


def test_secrets_never_reach_the_log(log_lines):
    log = logging.getLogger("smartmeter.test")
    log.info("login attempt %s", {"email": "a@example.com", "password": "hunter2-secret"})
    log.info("connecting to mqtt://consumer:s3cr3t-broker-pass@broker:8883")
    log.info("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
    log.info("GET /api/x?token=tok-123456&page=2")
    log.info('payload {"api_key": "k3y-abcdef", "voltage": 230}')
    log.info("settings", extra={"secret_key": "hunter2-secret", "context": {"refresh_token": "tok-123456"}})
    try:
        raise ValueError("could not connect to postgres://app:s3cr3t-broker-pass@db/smartmeter")
    except ValueError:
        log.exception("Database down")
    lines = [line for line in log_lines() if line["logger"] == "smartmeter.test"]
    assert len(lines) == 7
    _assert_no_secret(lines)
    # What is not secret stays readable.
    assert "a@example.com" in lines[0]["message"]
    assert "mqtt://consumer:[REDACTED]@broker:8883" in lines[1]["message"]
    assert "page=2" in lines[3]["message"]
    assert '"voltage": 230' in lines[4]["message"]
    assert lines[5]["secret_key"] == "[REDACTED]"
    assert lines[5]["context"] == {"refresh_token": "[REDACTED]"}
    assert "ValueError" in lines[6]["exc_info"]
    assert "postgres://app:[REDACTED]@db" in lines[6]["exc_info"]


@pytest.mark.django_db
def test_failed_logins_are_audited_without_the_password(api, log_lines):
    api().post("/api/auth/login", {"email": "who@example.com", "password": "hunter2-secret"}, format="json")
    audit = [line for line in log_lines() if line["logger"] == "smartmeter.audit"]
    assert audit[-1]["action"] == "auth.login_failed"
    assert audit[-1]["login"] == "who@example.com"
    _assert_no_secret(log_lines())


def test_plain_format_for_development_shows_request_id_and_extras():
    formatter = logging.config.DictConfigurator({}).configure_formatter(
        copy.deepcopy(django_settings.LOGGING["formatters"]["plain"])
    )
    record = logging.LogRecord("readings.ingest", logging.INFO, __file__, 1, "Rejected %s", ("payload",), None)
    record.device_id = "meter-009"
    record.request_id = "-"
    text = formatter.format(record)
    assert "INFO readings.ingest [-] Rejected payload device_id=meter-009" in text


@pytest.mark.django_db
def test_audit_log_writes_who_did_what(staff, log_lines):
    audit_log(actor=staff, action="tariff.create", tariff_id=7, effective_from="2026-01-01", name="Domestic")
    audit_log(actor=None, action="invoice.issue", invoice_id=42, device_id="meter-001", total="1268.50")
    staff_line, system_line = [line for line in log_lines() if line["logger"] == "smartmeter.audit"]
    assert staff_line["action"] == "tariff.create"
    assert staff_line["actor"] == staff.email
    assert staff_line["actor_id"] == staff.pk
    assert staff_line["actor_is_staff"] is True
    assert staff_line["tariff_id"] == 7
    assert staff_line["field_name"] == "Domestic"  # a LogRecord attribute name is kept under a prefix
    assert staff_line["audit"] is True
    assert system_line["actor"] == "system"
    assert system_line["total"] == "1268.50"


@pytest.mark.django_db
def test_staff_changes_in_the_admin_are_audited(client, staff, customer, log_lines):
    staff.is_superuser = True
    staff.save()
    device = DeviceFactory(device_id="meter-audit", owner=customer, name="Old name")
    client.force_login(staff)
    response = client.post(
        f"/admin/devices/device/{device.pk}/change/",
        device_change_form(device, name="New name"),
    )
    changed = LogEntry.objects.filter(action_flag=CHANGE, object_id=str(device.pk)).exists()
    audit = [line for line in log_lines() if line["logger"] == "smartmeter.audit" and line["action"] == "admin.change"]
    if not changed:
        pytest.fail(f"admin change form did not save: {response.status_code} {response.content[:500]!r}")
    assert audit[-1]["actor"] == staff.email
    assert audit[-1]["model"] == "device"
    assert audit[-1]["object_repr"]


@pytest.mark.django_db
def test_bulk_admin_actions_are_audited_per_object(staff, customer, log_lines):
    devices = [DeviceFactory(owner=customer) for _ in range(3)]
    from devices.models import Device

    LogEntry.objects.log_actions(staff.pk, Device.objects.filter(pk__in=[d.pk for d in devices]), DELETION)
    audit = [line for line in log_lines() if line.get("action") == "admin.delete"]
    assert sorted(line["object_id"] for line in audit) == sorted(str(d.pk) for d in devices)


@pytest.mark.django_db
def test_session_sign_in_is_audited(client, customer, log_lines):
    client.post("/login/", {"username": customer.email, "password": DEFAULT_PASSWORD})
    audit = [line for line in log_lines() if line.get("action") == "auth.login"]
    assert audit
    assert audit[-1]["actor"] == customer.email


# Inputs that made the earlier patterns backtrack quadratically (one 12 KB request path
# held a web process for 50 s), at 1 MB each.
HOSTILE_TEXTS = {
    "one long word": "a" * 1_000_000,
    "dotted words": "a." * 500_000,
    "unterminated quotes": 'password="' * 100_000,
    "schemes without a host": "x://u:" * 166_666,
    "keys without values": "a=" * 500_000,
    "a long path": "GET /" + "a/" * 500_000,
}


def _best_time(function, text: str, *, rounds: int = 3) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        function(text)
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_redaction_takes_time_linear_in_its_input():
    plain_scan = re.compile(r"[\w-]+|\s+|.", re.DOTALL).findall  # touches every character once
    slowest_scan = max(_best_time(plain_scan, text) for text in HOSTILE_TEXTS.values())
    for name, text in HOSTILE_TEXTS.items():
        whole = _best_time(redact_text, text)
        tenth = _best_time(redact_text, text[: len(text) // 10])
        assert whole <= 20 * slowest_scan, f"{name}: {whole:.3f} s against a plain scan's {slowest_scan:.3f} s"
        assert whole <= 30 * max(tenth, 0.001), f"{name}: 10x the input took {whole / tenth:.0f}x the time"


def test_redaction_still_masks_after_a_non_secret_key_and_keeps_the_rest():
    assert redact_text("foo=password=x&page=2") == "foo=password=[REDACTED]&page=2"
    assert redact_text("a=b password: 'x y' z") == "a=b password: '[REDACTED]' z"
    assert redact_text("secret_key=abc,token=def;voltage=230") == "secret_key=[REDACTED],token=[REDACTED];voltage=230"


@pytest.mark.django_db
def test_audit_lines_carry_the_trusted_address(client, customer, settings, log_lines):
    settings.TRUSTED_PROXY_COUNT = 1
    client.post(
        "/login/",
        {"username": customer.email, "password": DEFAULT_PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.30",
    )
    sign_in = [line for line in log_lines() if line.get("action") == "auth.login"][-1]
    assert sign_in["ip"] == "198.51.100.30"
