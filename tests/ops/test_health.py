from datetime import timedelta

import pytest
from django.utils import timezone

from ops.models import ServiceHeartbeat
from ops.services import heartbeat_record


def _consumer_up():
    heartbeat_record(name="mqtt_consumer", connected=True, detail="connected to 127.0.0.1:1883")


@pytest.mark.django_db
def test_health_is_ok_when_database_store_and_consumer_answer(client, settings):
    _consumer_up()
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"status", "uptime", "mqtt_connected", "db_connected", "readings_store", "version"}
    assert body["status"] == "ok"
    assert body["db_connected"] is True
    assert body["mqtt_connected"] is True
    assert body["readings_store"] == {"backend": "sql", "connected": True}
    assert body["version"] == settings.VERSION
    assert body["uptime"] >= 0
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_health_is_503_without_a_consumer_heartbeat(client):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["mqtt_connected"] is False


@pytest.mark.django_db
def test_a_stale_or_disconnected_heartbeat_means_mqtt_is_down(client, settings):
    settings.HEALTH_CONSUMER_MAX_AGE = 60
    ServiceHeartbeat.objects.create(
        name="mqtt_consumer", connected=True, updated_at=timezone.now() - timedelta(seconds=61)
    )
    assert client.get("/health").json()["mqtt_connected"] is False
    heartbeat_record(name="mqtt_consumer", connected=False, detail="broker unreachable")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["mqtt_connected"] is False
    heartbeat_record(name="mqtt_consumer", connected=True)
    assert client.get("/health").status_code == 200


@pytest.mark.django_db
def test_any_fresh_consumer_of_a_shared_group_counts(client):
    heartbeat_record(name="mqtt_consumer", connected=False)
    heartbeat_record(name="mqtt_consumer-2", connected=True)
    assert client.get("/health").json()["mqtt_connected"] is True


@pytest.mark.django_db
def test_an_unreachable_mongo_store_is_503_within_the_probe_timeout(client, settings):
    _consumer_up()
    settings.MONGODB_URI = "mongodb://127.0.0.1:1/smartmeter?serverSelectionTimeoutMS=500&connectTimeoutMS=500"
    settings.HEALTH_CHECK_TIMEOUT = 2.0
    started = timezone.now()
    response = client.get("/health")
    assert (timezone.now() - started).total_seconds() < 5
    assert response.status_code == 503
    body = response.json()
    assert body["readings_store"] == {"backend": "mongo", "connected": False}
    assert body["db_connected"] is True
    assert "127.0.0.1:1" not in response.content.decode()  # no connection details to anonymous callers


@pytest.mark.django_db
def test_health_needs_no_login_answers_any_host_and_is_not_redirected_to_https(client, settings):
    _consumer_up()
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["meters.example.com"]
    # A load balancer probes the container by address over plain HTTP.
    response = client.get("/health", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    # Other paths still get the normal treatment.
    assert client.get("/api/devices", HTTP_HOST="meters.example.com").status_code == 301


@pytest.mark.django_db
def test_health_carries_a_request_id(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="probe-123")
    assert response["X-Request-ID"] == "probe-123"


@pytest.mark.django_db
def test_healthcheck_command_for_container_probes():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="mqtt_consumer"):
        call_command("healthcheck", "--service", "mqtt_consumer")
    _consumer_up()
    call_command("healthcheck", "--service", "mqtt_consumer")
    call_command("healthcheck", "--database")
    call_command("healthcheck")
