import time

import jwt
import pytest
from django.conf import settings

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_register_login_me_refresh_flow(api):
    client = api()
    response = client.post(
        "/api/auth/register",
        {"email": "New@Example.com", "password": "s3cure-enough-pass", "name": "New"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["email"] == "new@example.com"
    assert "password" not in response.json()
    login = client.post(
        "/api/auth/login", {"email": "new@example.com", "password": "s3cure-enough-pass"}, format="json"
    )
    assert login.status_code == 200
    body = login.json()
    assert set(body) == {"token", "refresh", "user"}
    assert body["user"]["email"] == "new@example.com"
    me = client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.json()["email"] == "new@example.com"
    refreshed = client.post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['token']}").status_code == 200


def test_registering_a_taken_email_is_refused_whatever_its_case(api, customer):
    response = api().post(
        "/api/auth/register", {"email": customer.email.upper(), "password": "s3cure-enough-pass"}, format="json"
    )
    assert response.status_code == 400
    assert "already exists" in response.json()["email"][0]
    assert "already exists" in response.json()["detail"]


def test_a_weak_password_is_refused_with_djangos_validator_messages(api):
    response = api().post("/api/auth/register", {"email": "weak@example.com", "password": "12345678"}, format="json")
    assert response.status_code == 400
    messages = " ".join(response.json()["password"])
    assert "too common" in messages
    assert "entirely numeric" in messages


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": "s3cure-enough-pass"}, "email"),
        ({"email": "not-an-email", "password": "x" * 12}, "email"),
        ({"email": "a@example.com"}, "password"),
    ],
)
def test_register_rejects_missing_or_malformed_fields(api, payload, field):
    response = api().post("/api/auth/register", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_register_answers_json_400_to_a_body_that_is_not_json(api):
    response = api().post("/api/auth/register", b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_wrong_credentials_get_401_with_a_message(api, customer):
    response = api().post("/api/auth/login", {"email": customer.email, "password": "wrong-password"}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == "Email or password is incorrect."


def test_a_deactivated_user_cannot_log_in(api):
    user = UserFactory(email="gone@example.com", is_active=False)
    response = api().post("/api/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 401


def test_login_is_case_insensitive_on_email(api, customer):
    response = api().post(
        "/api/auth/login", {"email": customer.email.upper(), "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_a_garbage_refresh_token_gets_401(api):
    response = api().post("/api/auth/refresh", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert "invalid" in response.json()["detail"]


def test_an_access_token_cannot_be_used_as_a_refresh_token(api, customer):
    login = api().post("/api/auth/login", {"email": customer.email, "password": DEFAULT_PASSWORD}, format="json")
    response = api().post("/api/auth/refresh", {"refresh": login.json()["token"]}, format="json")
    assert response.status_code == 401


def test_me_requires_authentication(api):
    response = api().get("/api/auth/me")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_an_expired_access_token_is_refused(api, customer):
    now = int(time.time())
    token = jwt.encode(
        {"token_type": "access", "user_id": str(customer.pk), "exp": now - 10, "iat": now - 100, "jti": "x"},
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    response = api().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_unknown_api_routes_answer_json_404(api):
    response = api().get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json()["detail"] == "No API endpoint at /api/no/such/thing."
