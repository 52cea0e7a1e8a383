"""Operational endpoints at the site root (not under /api/): /health and /metrics."""

from django.urls import path

from ops.views import health, metrics_view

urlpatterns = [
    path("health", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
]
