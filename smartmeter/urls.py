"""Top-level routes: the admin and staff overview, the API under /api/, /health and /metrics, and the customer site."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing.collections_admin import collections_urls
from dashboard import admin_views as dashboard_admin_views
from smartmeter.errors import api_not_found

# Swagger UI's page carries a small inline <style>; its script comes from a URL (the split view).
api_docs_view = csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

api_patterns = [
    path("auth/", include("accounts.urls")),
    path("", include("devices.urls")),
    path("", include("readings.urls")),
    path("", include("billing.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api_docs_view, name="api-docs"),
]

handler404 = "smartmeter.errors.not_found"


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico whatever the page links; send them to the linked SVG icon.
    Temporary, so a browser never keeps a redirect to a fingerprinted file name that later changes."""
    return HttpResponseRedirect(static("img/favicon.svg"))


urlpatterns = [
    path("admin/overview/", dashboard_admin_views.overview, name="staff-overview"),
    *collections_urls,  # /admin/billing/ageing/, /admin/billing/disconnections/
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("api/<path:unknown>", api_not_found),
    path("", include("ops.urls")),  # /health, /metrics
    path("favicon.ico", favicon),
    path("", include("accounts.site_urls")),
]
