"""Request plumbing: request ids, health probes, request metrics and access lines.

Order in settings.MIDDLEWARE: RequestIdMiddleware and HealthProbeMiddleware come
first (before SecurityMiddleware), so load-balancer probes of /health are answered
whatever Host header they send and are never redirected to HTTPS;
RequestMetricsMiddleware next, so it times everything below it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings

from ops import metrics
from ops.logging import request_id_var

access_logger = logging.getLogger("smartmeter.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/health", "/metrics")


def _request_id_from(request) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Take a well-formed X-Request-ID from the proxy or make one; every log line of
    the request carries it (ops.logging.RequestIdFilter) and the response echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = _request_id_from(request)
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx/5xx responses ("django.request") after
        # the middleware chain returns, and those lines must carry the id too. The
        # request_finished receiver in ops.receivers clears it.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HealthProbeMiddleware:
    """Answer GET/HEAD /health before host validation and the SSL redirect:
    probes address the container by IP over plain HTTP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/health" and request.method in ("GET", "HEAD"):
            from ops.views import health

            return health(request)
        return self.get_response(request)


def _view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "<unnamed>"
    static_url = "/" + settings.STATIC_URL.lstrip("/")
    if request.path.startswith(static_url):
        return "<static>"
    return "<unmatched>"


class RequestMetricsMiddleware:
    """Count and time every request by view (a bounded label: the URL name, never the
    raw path), count 4xx/5xx by view, and write one access line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            self._record(request, 500, time.perf_counter() - started)
            raise
        self._record(request, response.status_code, time.perf_counter() - started)
        return response

    def _record(self, request, status: int, elapsed: float) -> None:
        view = _view_label(request)
        metrics.HTTP_REQUESTS.labels(view=view, method=request.method, status=str(status)).inc()
        metrics.HTTP_LATENCY.labels(view=view, method=request.method).observe(elapsed)
        if status >= 400:
            metrics.HTTP_ERRORS.labels(view=view, status_class=f"{status // 100}xx").inc()
        if request.path.startswith(_QUIET_PATHS) or view == "<static>":
            return
        user = getattr(request, "user", None)
        level = logging.ERROR if status >= 500 else logging.INFO
        access_logger.log(
            level,
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "view": view,
                "duration_ms": round(elapsed * 1000, 2),
                "user_id": user.pk if user is not None and getattr(user, "is_authenticated", False) else None,
            },
        )
