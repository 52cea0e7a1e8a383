import pytest


@pytest.mark.django_db
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
    me = client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.json()["email"] == "new@example.com"
    refreshed = client.post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['token']}").status_code == 200
