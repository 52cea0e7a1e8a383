"""Request plumbing: request ids, health probes, request metrics and access lines.

Order in settings.MIDDLEWARE: ClientAddressMiddleware first, so everything below sees the
trusted client address; RequestIdMiddleware and HealthProbeMiddleware before
SecurityMiddleware, so /health probes pass whatever their Host and are never redirected;
RequestMetricsMiddleware next, so it times everything below it (docs/operations.md);
RequestBodyLimitMiddleware below it, so a refused body is counted and logged like any request.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse

from ops import metrics
from ops.logging import request_id_var
from ops.request_limits import body_limit, declared_length, form_fields_limit, too_large_answer

access_logger = logging.getLogger("smartmeter.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/health", "/metrics")


def _request_id_from(request) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def client_address(*, peer: str, forwarded_for: str, trusted_proxies: int) -> str:
    """The client's address, as far as it can be trusted (docs/deployment.md#client-addresses).

    `peer` is the socket's remote address. With `trusted_proxies` = N proxies in front,
    each appending the address it received from to X-Forwarded-For, the client is the
    N-th entry from the right of (X-Forwarded-For + peer): entries further left were
    written by the client itself and are ignored. Anything that is not an IP address
    falls back to the peer.
    """
    if trusted_proxies <= 0:
        return peer
    chain = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()] + [peer]
    candidate = chain[max(0, len(chain) - 1 - trusted_proxies)]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


class ClientAddressMiddleware:
    """Set REMOTE_ADDR to the trusted client address, for rate limits, audit lines and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META["REMOTE_ADDR"] = client_address(
            peer=request.META.get("REMOTE_ADDR", ""),
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
            trusted_proxies=settings.TRUSTED_PROXY_COUNT,
        )
        return self.get_response(request)


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


class RequestBodyLimitMiddleware:
    """A 413 for a body over REQUEST_MAX_BODY_BYTES (REQUEST_MAX_BODY_BYTES_ADMIN under /admin/),
    judged from Content-Length before anything reads the body: JSON under /api/, plain text elsewhere.

    Under daphne, ops.asgi.RequestBodyLimit has already refused such bodies (and cut off
    chunked ones) before Django read them; this is the same rule for the WSGI app and the
    test client. Django's own DATA_UPLOAD_MAX_MEMORY_SIZE (form fields read by a view)
    also answers 413 here instead of Django's 400.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request.path)
        declared = declared_length(request.META.get("CONTENT_LENGTH"))
        if declared is not None and declared > limit:
            return _too_large(request.path, limit)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request.path, form_fields_limit(request.path))
        return None


def _too_large(path: str, limit: int) -> HttpResponse:
    content_type, body = too_large_answer(path, limit)
    return HttpResponse(body, status=413, content_type=content_type)


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
