"""Top-level routes: the admin and staff overview, the API under /api/, /health and /metrics, and the customer site."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard import admin_views as dashboard_admin_views
from smartmeter.errors import api_not_found

api_patterns = [
    path("auth/", include("accounts.urls")),
    path("", include("devices.urls")),
    path("", include("readings.urls")),
    path("", include("billing.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/overview/", dashboard_admin_views.overview, name="staff-overview"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("api/<path:unknown>", api_not_found),
    path("", include("ops.urls")),  # /health, /metrics
    path("", include("accounts.site_urls")),
]
