import pytest


@pytest.mark.django_db
def test_cors_answers_only_the_configured_origin(api, customer, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example-utility.in"]
    client = api(customer)
    allowed = client.get("/api/devices", HTTP_ORIGIN="https://app.example-utility.in")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example-utility.in"
    other = client.get("/api/devices", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.django_db
def test_cors_preflight_for_the_configured_origin(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example-utility.in"]
    response = client.options(
        "/api/auth/login",
        HTTP_ORIGIN="https://app.example-utility.in",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,authorization",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example-utility.in"
    assert "authorization" in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_cors_never_applies_outside_the_api(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example-utility.in"]
    response = client.get("/login/", HTTP_ORIGIN="https://app.example-utility.in")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_production_transport_headers(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_REDIRECT_EXEMPT = [r"^health$"]
    plain = client.get("/api/devices")
    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    secure = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert secure["X-Frame-Options"] == "DENY"
    assert secure["X-Content-Type-Options"] == "nosniff"
