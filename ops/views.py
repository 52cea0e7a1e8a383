"""/health and /metrics: plain Django views (no DRF authentication, throttles or sessions),
cheap enough for a load balancer to poll every few seconds."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from ops.health import health_report
from ops.prometheus import HeartbeatCollector, RegisteredGaugesCollector


@never_cache
def health(request):
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"detail": "Use GET."}, status=405, headers={"Allow": "GET, HEAD"})
    report = health_report()
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)


def _ip_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def metrics_access_allowed(request) -> bool:
    """A METRICS_TOKEN bearer token, or a direct (un-proxied) connection from an address
    in METRICS_ALLOWED_IPS. A request carrying X-Forwarded-For came through a proxy whose
    own address says nothing about the client, so it needs the token."""
    token = settings.METRICS_TOKEN
    authorization = request.headers.get("Authorization", "")
    if token and authorization.startswith("Bearer "):
        return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    return _ip_allowed(request.META.get("REMOTE_ADDR", ""))


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scrape_time = CollectorRegistry()
    scrape_time.register(HeartbeatCollector())
    scrape_time.register(RegisteredGaugesCollector())
    return body + generate_latest(scrape_time)


@never_cache
@require_GET
def metrics_view(request):
    if not metrics_access_allowed(request):
        if settings.METRICS_TOKEN:
            return JsonResponse(
                {"detail": "A valid metrics bearer token is required."},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return JsonResponse({"detail": "Metrics are not available to this address."}, status=403)
    return HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
