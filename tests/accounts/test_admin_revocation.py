"""Staff actions in the admin revoke a user's API tokens: deactivating, setting a password,
and a staff member changing their own password."""

import pytest
from django.test import Client

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


@pytest.fixture
def admin_client(db):
    superuser = UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)
    client.superuser = superuser
    return client


def _tokens(api, user, password=DEFAULT_PASSWORD) -> dict:
    return api().post("/api/auth/login", {"email": user.email, "password": password}, format="json").json()


def _me_status(api, access) -> int:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me").status_code


def _change_form_data(user, **overrides) -> dict:
    data = {
        "email": user.email,
        "name": user.name,
        "phone": "",
        "address": "",
        "receive_invoice_emails": "on",
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_staff_deactivating_a_user_in_the_admin_revokes_their_tokens(admin_client, api, customer):
    tokens = _tokens(api, customer)
    response = admin_client.post(
        f"/admin/accounts/user/{customer.pk}/change/", _change_form_data(customer, is_active=None)
    )
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert customer.is_active is False
    assert _me_status(api, tokens["token"]) == 401
    refused = api().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refused.status_code == 401


def test_the_deactivate_action_revokes_tokens(admin_client, api, customer):
    tokens = _tokens(api, customer)
    admin_client.post(
        "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [customer.pk]}, follow=True
    )
    customer.refresh_from_db()
    assert customer.is_active is False
    assert _me_status(api, tokens["token"]) == 401


def test_editing_other_fields_leaves_tokens_alone(admin_client, api, customer):
    tokens = _tokens(api, customer)
    response = admin_client.post(f"/admin/accounts/user/{customer.pk}/change/", _change_form_data(customer, name="New"))
    assert response.status_code == 302
    assert _me_status(api, tokens["token"]) == 200


def test_staff_setting_a_password_in_the_admin_revokes_tokens(admin_client, api, customer):
    tokens = _tokens(api, customer)
    response = admin_client.post(
        f"/admin/accounts/user/{customer.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content[:2000]
    assert _me_status(api, tokens["token"]) == 401
    assert _me_status(api, _tokens(api, customer, NEW_PASSWORD)["token"]) == 200


def test_staff_switching_password_sign_in_off_revokes_tokens(admin_client, api, customer):
    tokens = _tokens(api, customer)
    response = admin_client.post(
        f"/admin/accounts/user/{customer.pk}/password/", {"usable_password": "false", "unset-password": "1"}
    )
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert not customer.has_usable_password()
    assert _me_status(api, tokens["token"]) == 401


def test_a_staff_member_changing_their_own_password_in_the_admin_revokes_their_tokens(admin_client, api):
    tokens = _tokens(api, admin_client.superuser)
    response = admin_client.post(
        "/admin/password_change/",
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content[:2000]
    assert _me_status(api, tokens["token"]) == 401
