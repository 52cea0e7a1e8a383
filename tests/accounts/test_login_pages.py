import pytest

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def test_the_site_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_customer_signs_in_with_email_and_reaches_their_meters(client, device, customer):
    page = client.get("/login/")
    assert b'type="email"' in page.content
    response = client.post("/login/", {"username": customer.email, "password": DEFAULT_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"meter-001" in response.content or b"Home" in response.content


def test_a_wrong_password_shows_an_error_and_no_session(client, customer):
    response = client.post("/login/", {"username": customer.email, "password": "nope"})
    assert response.status_code == 200
    assert b"correct email" in response.content.lower() or b"enter a correct" in response.content.lower()
    assert "_auth_user_id" not in client.session


def test_sign_out_ends_the_session(client, customer):
    client.force_login(customer)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
