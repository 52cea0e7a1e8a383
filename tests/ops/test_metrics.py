import os
import re
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from ops import metrics
from ops.services import heartbeat_record

ROOT = Path(__file__).resolve().parents[2]


def _sample(text: str, name: str, **labels) -> float | None:
    """Value of one sample in Prometheus text format, or None when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def _scrape(client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.django_db
def test_requests_are_counted_and_timed_by_view(api, customer, client):
    before = _sample(_scrape(client), "smartmeter_http_requests_total", view="device-list", status="200") or 0
    user_api = api(customer)
    for _ in range(3):
        assert user_api.get("/api/devices").status_code == 200
    assert user_api.get("/api/devices/nope").status_code == 404
    text = _scrape(client)
    assert _sample(text, "smartmeter_http_requests_total", view="device-list", method="GET", status="200") >= before + 3
    assert _sample(text, "smartmeter_http_request_duration_seconds_count", view="device-list", method="GET") >= 3
    assert _sample(text, "smartmeter_http_errors_total", view="device-detail", status_class="4xx") >= 1
    # The label is the route's name, never the raw path (bounded cardinality).
    assert "nope" not in text


@pytest.mark.django_db
def test_every_promised_family_is_exposed(client):
    """Unlabelled families are always there; a labelled one appears with its first sample."""
    heartbeat_record(name="mqtt_consumer", connected=True)
    metrics.TASK_FAILURES.labels(task="ops.test_probe").inc(0)
    metrics.READINGS_REJECTED.labels(reason="ops_test_probe").inc(0)
    text = _scrape(client)
    assert _sample(text, "smartmeter_task_failures_total", task="ops.test_probe") is not None
    assert _sample(text, "smartmeter_readings_rejected_total", reason="ops_test_probe") is not None
    for family in [
        "smartmeter_http_requests_total",
        "smartmeter_http_request_duration_seconds",
        "smartmeter_http_errors_total",
        "smartmeter_readings_accepted_total",
        "smartmeter_ingest_batch_size",
        "smartmeter_ingest_write_seconds",
        "smartmeter_consumer_connected",
        "smartmeter_invoices_issued_total",
        "smartmeter_service_connected",
    ]:
        assert f"# TYPE {family} " in text, family
    assert _sample(text, "smartmeter_service_connected", service="mqtt_consumer") == 1.0
    assert _sample(text, "smartmeter_service_heartbeat_age_seconds", service="mqtt_consumer") < 60


@pytest.mark.django_db
def test_bills_held_for_review_are_counted_at_scrape_time(client, device, settings, tmp_path):
    from tests.factories import InvoiceFactory

    settings.MEDIA_ROOT = tmp_path / "media"

    assert _sample(_scrape(client), "smartmeter_invoices_held") == 0
    InvoiceFactory(device=device, held=True)
    InvoiceFactory(device=device, month=date(2025, 2, 1))  # issued: not held
    assert _sample(_scrape(client), "smartmeter_invoices_held") == 1


@pytest.mark.django_db
def test_metrics_from_other_processes_are_summed(client):
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "settings enable multi-process metrics"
    reason = f"xproc_{uuid.uuid4().hex[:8]}"
    script = (
        "import os, django, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'smartmeter.settings')\n"
        "django.setup()\n"
        "from ops import metrics\n"
        "metrics.READINGS_REJECTED.labels(reason=sys.argv[1]).inc(7)\n"
        "metrics.INVOICES_ISSUED.inc(0)\n"
    )
    for _ in range(2):  # two separate processes, like the consumer and the worker
        subprocess.run([sys.executable, "-c", script, reason], cwd=ROOT, check=True, timeout=60)
    assert _sample(_scrape(client), "smartmeter_readings_rejected_total", reason=reason) == 14


@pytest.mark.django_db
def test_metrics_need_the_token_from_other_addresses(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    _scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")


@pytest.mark.django_db
def test_metrics_allow_list_takes_networks_and_ignores_proxied_requests(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    _scrape(client, REMOTE_ADDR="10.20.3.4")
    assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == 403
    # Through a reverse proxy on an allowed address, the real client is unknown: refused.
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 403


@pytest.mark.django_db
def test_rate_limit_refusals_are_counted(api, rate_limits, client):
    rate_limits.RATELIMIT_LOGIN = "1/m"
    before = _sample(_scrape(client), "smartmeter_rate_limited_total", scope="login") or 0
    anonymous = api()
    for _ in range(3):
        anonymous.post("/api/auth/login", {}, format="json", REMOTE_ADDR="192.0.2.77")
    assert _sample(_scrape(client), "smartmeter_rate_limited_total", scope="login") >= before + 2
