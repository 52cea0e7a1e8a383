"""The customer's account pages: profile, password change, reset by email, and what each
does to the customer's other sessions and API tokens."""

import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def _api_login(api, email, password=DEFAULT_PASSWORD) -> dict:
    response = api().post("/api/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _me_status(api, access) -> int:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me").status_code


# --- profile -------------------------------------------------------------------


def test_the_account_pages_need_a_signed_in_customer(client):
    for path in ("/account/", "/account/password/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_the_header_links_to_the_account_page(client, customer):
    client.force_login(customer)
    page = client.get("/account/")
    assert page.status_code == 200
    assert b'href="/account/" aria-current="page"' in page.content
    assert b'href="/account/password/"' in page.content


def test_a_customer_edits_name_and_notification_preference(client, customer):
    client.force_login(customer)
    response = client.post(
        "/account/", {"name": "  Asha R.  ", "email": customer.email, "receive_invoice_emails": ""}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/account/"
    assert b"Your details are saved." in response.content
    customer.refresh_from_db()
    assert customer.name == "Asha R."
    assert customer.receive_invoice_emails is False


def test_changing_the_email_needs_the_current_password(client, customer):
    client.force_login(customer)
    refused = client.post("/account/", {"name": "Asha", "email": "asha.new@example.com"})
    assert refused.status_code == 200
    assert b"Enter your current password to change your email." in refused.content
    customer.refresh_from_db()
    assert customer.email == "asha@example.com"
    client.post(
        "/account/",
        {"name": "Asha", "email": "Asha.New@Example.com", "current_password": DEFAULT_PASSWORD},
    )
    customer.refresh_from_db()
    assert customer.email == "asha.new@example.com"
    assert Client().login(username="asha.new@example.com", password=DEFAULT_PASSWORD)


def test_an_email_taken_by_another_account_is_refused_whatever_its_case(client, customer, other_customer):
    client.force_login(customer)
    response = client.post(
        "/account/",
        {"name": "Asha", "email": other_customer.email.upper(), "current_password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 200
    assert b"An account with this email already exists." in response.content
    customer.refresh_from_db()
    assert customer.email == "asha@example.com"


def test_sign_out_all_apps_revokes_the_api_tokens_and_keeps_the_session(client, api, customer):
    tokens = _api_login(api, customer.email)
    client.force_login(customer)
    response = client.post("/account/apps/sign-out/", follow=True)
    assert b"has been signed out" in response.content
    assert _me_status(api, tokens["token"]) == 401
    assert client.get("/account/").status_code == 200


# --- password change -----------------------------------------------------------


def test_changing_the_password_on_the_page_revokes_api_tokens_and_other_sessions(client, api, customer):
    tokens = _api_login(api, customer.email)
    other_browser = Client()
    other_browser.force_login(customer)
    client.force_login(customer)
    response = client.post(
        "/account/password/",
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/account/"
    assert b"Your password is changed." in response.content
    assert _me_status(api, tokens["token"]) == 401
    assert api().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert client.get("/account/").status_code == 200  # this session is kept
    assert other_browser.get("/account/").status_code == 302  # the other one is not
    assert _me_status(api, _api_login(api, customer.email, NEW_PASSWORD)["token"]) == 200


def test_a_wrong_old_password_changes_nothing(client, api, customer):
    tokens = _api_login(api, customer.email)
    client.force_login(customer)
    response = client.post(
        "/account/password/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert b"incorrectly" in response.content
    assert _me_status(api, tokens["token"]) == 200


# --- password reset by email ---------------------------------------------------


def _reset_link() -> str:
    (message,) = mail.outbox
    match = re.search(r"http://testserver(/account/password/reset/[^/\s]+/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_the_login_page_links_to_the_reset_page(client):
    assert b'href="/account/password/reset/"' in client.get("/login/").content


def test_reset_by_email_end_to_end(client, api, customer):
    tokens = _api_login(api, customer.email)
    response = client.post("/account/password/reset/", {"email": "ASHA@example.com"}, follow=True)
    assert response.redirect_chain[-1][0] == "/account/password/reset/sent/"
    (message,) = mail.outbox
    assert message.to == ["asha@example.com"]
    assert message.subject == "Reset your Smartmeter Power Distribution Ltd. password"
    assert "Dear Asha Rao" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Choose a new password" in html

    form_page = client.get(_reset_link(), follow=True)  # Django swaps the token for a session key
    assert form_page.status_code == 200
    assert b"Choose a new password" in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert done.redirect_chain[-1][0] == "/account/password/reset/complete/"
    assert b"Your new password is set" in done.content

    signed_in = Client().post("/login/", {"username": customer.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert _me_status(api, tokens["token"]) == 401
    # The link worked once.
    assert b"This link no longer works" in Client().get(_reset_link(), follow=True).content


def test_the_reset_page_does_not_reveal_whether_an_account_exists(client, customer):
    known = client.post("/account/password/reset/", {"email": customer.email})
    unknown = client.post("/account/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mail.outbox) == 1


def test_no_reset_email_for_a_deactivated_account(client):
    user = UserFactory(email="gone@example.com", is_active=False)
    client.post("/account/password/reset/", {"email": user.email})
    assert mail.outbox == []


def test_reset_requests_are_rate_limited_per_client_address(client, customer, rate_limits):
    rate_limits.RATELIMIT_PASSWORD_RESET = "2/h"
    for _ in range(2):
        assert client.post("/account/password/reset/", {"email": customer.email}).status_code == 302
    limited = client.post("/account/password/reset/", {"email": customer.email}, HTTP_ACCEPT="text/html")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert len(mail.outbox) == 2
    assert client.get("/account/password/reset/").status_code == 200  # only POSTs count
    other_address = client.post("/account/password/reset/", {"email": customer.email}, REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 302
