"""The site's icon: linked from every page (the customer site and the admin) and served, so no browser gets a 404."""

import re

import pytest

pytestmark = pytest.mark.django_db

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">')


def _linked_icon(html: str) -> str:
    found = ICON_LINK.search(html)
    assert found, "the page links no SVG icon"
    return found.group(1)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_customer_site_links_an_svg_icon_that_is_served(client):
    href = _linked_icon(client.get("/login/").content.decode())
    response = client.get(href)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert _body(response).lstrip().startswith(b"<svg")


def test_the_admin_links_the_same_icon(client, staff):
    customer_site = _linked_icon(client.get("/login/").content.decode())
    client.force_login(staff)
    assert _linked_icon(client.get("/admin/").content.decode()) == customer_site


def test_favicon_ico_points_browsers_at_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == _linked_icon(client.get("/login/").content.decode())
