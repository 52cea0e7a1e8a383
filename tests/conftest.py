"""Shared fixtures. Services are real; a missing one skips its tests, except under CI
(SMARTMETER_REQUIRE_SERVICES=1), where a missing one fails them (tests/support/services.py)."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import DeviceFactory, UserFactory
from tests.support.services import require_service


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _rate_limits_off(settings):
    """Suites log in many times from one address: rate limits are off unless a test
    turns them on with the `rate_limits` fixture (tests/ops/test_ratelimits.py)."""
    settings.RATELIMIT_ENABLE = False


@pytest.fixture
def rate_limits(settings):
    """Turn rate limits on with empty counters; returns `settings` to set rates on."""
    from django.core.cache import caches

    settings.RATELIMIT_ENABLE = True
    caches["ratelimit"].clear()
    yield settings
    caches["ratelimit"].clear()


@pytest.fixture
def mosquitto():
    """The machine's Mosquitto on 127.0.0.1:1883."""
    require_service("Mosquitto", "127.0.0.1", 1883)
    return ("127.0.0.1", 1883)


@pytest.fixture
def retained_on_mosquitto(mosquitto):
    """Publish a retained message to a meter's topic on the machine's Mosquitto; cleared at teardown.

    The broker would hand it to every later subscriber, other tests and runs included.
    """
    from tests.dashboard.live_helpers import publish, retained_clear

    meters: list[str] = []

    def plant(device_id: str, payload: dict | bytes) -> None:
        meters.append(device_id)
        publish(mosquitto, device_id, payload, retain=True)

    yield plant
    for device_id in meters:
        retained_clear(mosquitto, device_id)


@pytest.fixture
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    return "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def mongo_uri():
    """A mongodb:// URI of a real wire-protocol server (mongoeco, memory engine) for the session."""
    from tests.mongoeco_server import MongoEcoServer

    server = MongoEcoServer().start()
    yield server.uri("smartmeter_test")
    server.stop()


@pytest.fixture
def mongo_store(mongo_uri, settings):
    """The readings store with MONGODB_URI set (get_store() answers it), emptied before and after."""
    from readings.stores import get_store
    from readings.stores.mongo import MongoReading

    settings.MONGODB_URI = mongo_uri
    store = get_store()
    MongoReading.objects.delete()
    yield store
    MongoReading.objects.delete()


@pytest.fixture
def customer(db):
    return UserFactory(email="asha@example.com", name="Asha Rao")


@pytest.fixture
def other_customer(db):
    return UserFactory(email="ravi@example.com", name="Ravi Kumar")


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@example.com", name="Staff", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    """The Django test client signed in as a staff superuser, as the back office is used."""
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)
    return client


@pytest.fixture
def device(customer):
    return DeviceFactory(device_id="meter-001", owner=customer, name="Home", location="Bengaluru")


def auth_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api():
    """Build an API client for a user (JWT) or anonymous: api(user) / api()."""
    return auth_client
