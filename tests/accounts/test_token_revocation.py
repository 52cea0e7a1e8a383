"""API tokens can be revoked: password change, deactivation, deletion, logout and refresh
rotation each end the tokens they should (docs/operations.md#api-tokens). Every case here
was an attack that worked before: see docs/reliability.md#account-takeover."""

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.services import user_change_password, user_deactivate, user_tokens_revoke
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def _login(api, user, password=DEFAULT_PASSWORD) -> dict:
    response = api().post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _me(api, access: str):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me")


def _refresh(api, refresh: str):
    return api().post("/api/auth/refresh", {"refresh": refresh}, format="json")


def test_the_old_access_token_is_refused_after_a_password_change(api, customer):
    tokens = _login(api, customer)
    assert _me(api, tokens["token"]).status_code == 200
    user_change_password(user=customer, password=NEW_PASSWORD)
    response = _me(api, tokens["token"])
    assert response.status_code == 401
    assert response.json()["detail"] == "This token has been revoked; sign in again."


def test_the_old_refresh_token_is_refused_after_a_password_change(api, customer):
    tokens = _login(api, customer)
    user_change_password(user=customer, password=NEW_PASSWORD)
    response = _refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert BlacklistedToken.objects.filter(token__user=customer).exists()


def test_tokens_issued_after_the_password_change_work(api, customer):
    user_change_password(user=customer, password=NEW_PASSWORD)
    tokens = _login(api, customer, password=NEW_PASSWORD)
    assert _me(api, tokens["token"]).status_code == 200
    assert _refresh(api, tokens["refresh"]).status_code == 200


def test_tokens_minted_before_revocation_existed_are_refused_after_the_first_revocation(api, customer):
    """Tokens from before this release carry no generation claim: valid until the user's first revocation."""
    legacy = RefreshToken.for_user(customer)
    assert _me(api, str(legacy.access_token)).status_code == 200
    user_tokens_revoke(user=customer)
    assert _me(api, str(legacy.access_token)).status_code == 401
    assert _refresh(api, str(legacy)).status_code == 401


def test_refresh_is_refused_for_a_deactivated_user(api, customer):
    tokens = _login(api, customer)
    user_deactivate(user=customer)
    response = _refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["detail"] == "This account is deactivated."
    assert _me(api, tokens["token"]).status_code == 401


def test_reactivating_a_user_does_not_revive_their_old_tokens(api, customer):
    tokens = _login(api, customer)
    user_deactivate(user=customer)
    customer.is_active = True
    customer.save()
    assert _me(api, tokens["token"]).status_code == 401
    assert _refresh(api, tokens["refresh"]).status_code == 401


def test_refresh_is_refused_for_a_deleted_user_with_a_json_401_not_a_500(api):
    user = UserFactory()
    tokens = _login(api, user)
    user.delete()
    response = _refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["detail"] == "The account of this token no longer exists."


def test_logout_blacklists_the_refresh_token(api, customer):
    tokens = _login(api, customer)
    response = api().post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(token__user=customer).count() == 1
    refused = _refresh(api, tokens["refresh"])
    assert refused.status_code == 401
    assert "already been used or revoked" in refused.json()["detail"]


def test_logging_out_twice_is_harmless(api, customer):
    tokens = _login(api, customer)
    for _ in range(2):
        assert api().post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 204


def test_logout_with_a_forged_token_gets_401_and_blacklists_nothing(api, customer):
    response = api().post("/api/auth/logout", {"refresh": "not.a.token"}, format="json")
    assert response.status_code == 401
    assert "invalid" in response.json()["detail"]
    assert not BlacklistedToken.objects.exists()


def test_logout_refuses_an_access_token(api, customer):
    tokens = _login(api, customer)
    assert api().post("/api/auth/logout", {"refresh": tokens["token"]}, format="json").status_code == 401


def test_refresh_rotates_the_refresh_token_and_refuses_the_used_one(api, customer):
    tokens = _login(api, customer)
    first = _refresh(api, tokens["refresh"])
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"token", "access", "refresh"}
    assert body["token"] == body["access"]
    assert body["refresh"] != tokens["refresh"]
    assert _me(api, body["token"]).status_code == 200
    replay = _refresh(api, tokens["refresh"])
    assert replay.status_code == 401
    assert "already been used" in replay.json()["detail"]
    assert _refresh(api, body["refresh"]).status_code == 200


def test_revoking_a_users_tokens_leaves_other_users_alone(api, customer, other_customer):
    mine, theirs = _login(api, customer), _login(api, other_customer)
    user_tokens_revoke(user=customer)
    assert _me(api, mine["token"]).status_code == 401
    assert _me(api, theirs["token"]).status_code == 200
    assert _refresh(api, theirs["refresh"]).status_code == 200


def test_flushing_expired_tokens_keeps_the_live_ones(api, customer):
    tokens = _login(api, customer)
    OutstandingToken.objects.create(
        user=customer, jti="expired", token="x", created_at=timezone.now(), expires_at=timezone.now()
    )
    call_command("flushexpiredtokens")
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) != []
    assert not OutstandingToken.objects.filter(jti="expired").exists()
    assert _refresh(api, tokens["refresh"]).status_code == 200


def test_the_flush_runs_daily_from_a_django_q_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="accounts: flush expired API tokens")
    assert (schedule.func, schedule.args, schedule.schedule_type) == (
        "django.core.management.call_command",
        "'flushexpiredtokens'",
        Schedule.CRON,
    )
    assert schedule.cron == "15 3 * * *"


@pytest.mark.django_db(transaction=True)
def test_two_racing_refreshes_with_one_token_get_one_new_token(api):
    """Rotation must hold under concurrency: the row lock lets exactly one request use a token."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent writers (run with DATABASE_URL=postgres://...)")
    user = UserFactory()
    refresh = _login(api, user)["refresh"]

    def attempt(_):
        try:
            return _refresh(api, refresh).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))
    assert statuses == [200, 401, 401, 401]
