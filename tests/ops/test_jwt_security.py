"""Only tokens this service signed, with its algorithm, unexpired and of the access
type, authenticate; everything else is a JSON 401."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _claims(user, **overrides) -> dict:
    now = datetime.now(tz=UTC)
    claims = dict(AccessToken.for_user(user).payload)
    claims.update({"iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())})
    claims.update(overrides)
    return claims


def _me(api, token: str):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/auth/me")


def _refused(response):
    assert response.status_code == 401, response.content
    assert "detail" in response.json()


@pytest.mark.django_db
def test_a_genuine_access_token_works(api, customer):
    token = jwt.encode(_claims(customer), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    response = _me(api, token)
    assert response.status_code == 200
    assert response.json()["email"] == customer.email


@pytest.mark.django_db
def test_a_tampered_payload_is_refused(api, customer, other_customer):
    header, _payload, signature = str(AccessToken.for_user(customer)).split(".")
    forged_payload = _b64(_claims(customer, user_id=other_customer.pk))
    _refused(_me(api, f"{header}.{forged_payload}.{signature}"))


@pytest.mark.django_db
def test_a_token_signed_with_another_key_is_refused(api, customer):
    _refused(_me(api, jwt.encode(_claims(customer), "not-our-secret-" * 4, algorithm="HS256")))


@pytest.mark.django_db
def test_alg_none_is_refused(api, customer):
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(customer))}."
    _refused(_me(api, unsigned))
    _refused(_me(api, jwt.encode(_claims(customer), None, algorithm="none")))


@pytest.mark.django_db
def test_hs512_with_our_own_secret_is_refused(api, customer):
    _refused(_me(api, jwt.encode(_claims(customer), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")))


@pytest.mark.django_db
def test_rs256_tokens_are_refused(api, customer):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(_me(api, jwt.encode(_claims(customer), key, algorithm="RS256")))


@pytest.mark.django_db
def test_an_expired_token_is_refused(api, customer):
    past = datetime.now(tz=UTC) - timedelta(minutes=10)
    claims = _claims(customer, iat=int(past.timestamp()), exp=int((past + timedelta(minutes=5)).timestamp()))
    _refused(_me(api, jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")))


@pytest.mark.django_db
def test_a_refresh_token_is_not_an_access_token(api, customer):
    _refused(_me(api, str(RefreshToken.for_user(customer))))


@pytest.mark.django_db
def test_a_token_for_a_deleted_or_inactive_user_is_refused(api, customer):
    token = str(AccessToken.for_user(customer))
    customer.is_active = False
    customer.save()
    _refused(_me(api, token))


@pytest.mark.django_db
def test_garbage_and_wrong_schemes_are_refused(api, customer):
    _refused(_me(api, "not.a.jwt"))
    _refused(_me(api, ""))
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AccessToken.for_user(customer)}")
    _refused(client.get("/api/auth/me"))


@pytest.mark.django_db
def test_refresh_refuses_forged_and_access_tokens(api, customer):
    client = api()
    _refused(client.post("/api/auth/refresh", {"refresh": str(AccessToken.for_user(customer))}, format="json"))
    forged = jwt.encode(
        dict(RefreshToken.for_user(customer).payload), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512"
    )
    _refused(client.post("/api/auth/refresh", {"refresh": forged}, format="json"))
