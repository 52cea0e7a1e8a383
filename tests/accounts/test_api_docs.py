import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_the_public_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in (
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/devices",
        "/api/devices/{device_id}",
    ):
        assert path in paths, path
    assert "204" in paths["/api/auth/logout"]["post"]["responses"]
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    refreshed = schema["components"]["schemas"]["RefreshOutput"]["properties"]
    assert {"token", "access", "refresh"} <= set(refreshed)


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html
    assert "/static/drf_spectacular_sidecar/" in html
