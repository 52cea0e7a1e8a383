"""Rate limits on top of django-ratelimit, answering 429 JSON with Retry-After.

Counters live in the cache named by RATELIMIT_USE_CACHE ("ratelimit"): Redis when
REDIS_URL is set, so every web process shares them; otherwise a per-process
in-memory cache, so in the embedded run each process counts on its own (a client
spread over N processes gets up to N times the limit). Rates come from settings
(RATELIMIT_LOGIN, RATELIMIT_REGISTER, RATELIMIT_API, RATELIMIT_PDF,
RATELIMIT_PASSWORD_RESET) and are read on
every request, so tests and operators can change them without a restart of the code.

Two ways in:
- `rate_limit(scope=..., key=...)` decorates a function view or a DRF/Django view method;
- `ApiUserRateThrottle` / `PdfDownloadThrottle` are DRF throttle classes (installed as
  DEFAULT_THROTTLE_CLASSES, so every API view is limited per user, or per IP when anonymous).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ops.metrics import RATE_LIMITED

logger = logging.getLogger(__name__)

# Scope -> the setting holding its rate ("10/m", "600/m", "30/h", ...).
SCOPE_SETTINGS = {
    "login": "RATELIMIT_LOGIN",
    "register": "RATELIMIT_REGISTER",
    "api": "RATELIMIT_API",
    "pdf": "RATELIMIT_PDF",
    "password_reset": "RATELIMIT_PASSWORD_RESET",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    limited: bool
    retry_after: int  # seconds until the current window ends (>= 1 when limited)


def scope_rate(scope: str) -> str | None:
    setting = SCOPE_SETTINGS.get(scope)
    if setting is None:
        raise ValueError(f"Unknown rate-limit scope {scope!r}")
    rate = getattr(settings, setting, None)
    return rate or None  # an empty rate switches the scope off


def check_rate(request, *, scope: str, key: str = "user_or_ip", increment: bool = True) -> Verdict:
    """Count one request against `scope` and say whether it is over the limit.

    A cache outage never turns into a 500: with RATELIMIT_FAIL_OPEN (default) the
    request passes and a warning is logged; otherwise it is refused.
    """
    rate = scope_rate(scope)
    if rate is None:
        return Verdict(limited=False, retry_after=0)
    try:
        usage = get_usage(request, group=f"smartmeter.{scope}", key=key, rate=rate, increment=increment)
    except Exception:  # the cache backend failed (Redis down, say)
        logger.warning("Rate-limit cache unavailable; scope %s", scope, exc_info=True)
        usage = None if getattr(settings, "RATELIMIT_FAIL_OPEN", True) else {"should_limit": True, "time_left": 60}
    if usage is None:  # limits disabled (RATELIMIT_ENABLE=False) or failed open
        return Verdict(limited=False, retry_after=0)
    if usage["should_limit"] and usage["time_left"] < 0 and getattr(settings, "RATELIMIT_FAIL_OPEN", True):
        # django-ratelimit reports a cache that could not count as limited; honour fail-open.
        logger.warning("Rate-limit cache could not count; scope %s", scope)
        return Verdict(limited=False, retry_after=0)
    limited = bool(usage["should_limit"])
    if limited:
        RATE_LIMITED.labels(scope=scope).inc()
    return Verdict(limited=limited, retry_after=max(1, int(usage["time_left"])))


def too_many_requests(retry_after: int, *, html: bool = False) -> HttpResponse:
    message = f"Too many requests. Try again in {retry_after} seconds."
    if html:
        response = HttpResponse(f"<!doctype html><title>Too many requests</title><p>{message}</p>", status=429)
    else:
        response = JsonResponse({"detail": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _wants_html(request) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def _find_request(args) -> HttpRequest | Request:
    for arg in args[:2]:  # (request, ...) for functions, (self, request, ...) for methods
        if isinstance(arg, HttpRequest | Request):
            return arg
    raise TypeError("rate_limit() decorates views whose first or second argument is the request")


def rate_limit(*, scope: str, key: str = "user_or_ip", methods: tuple[str, ...] | None = None):
    """Limit a view (function or method) by `scope`'s rate, keyed by `key`.

    `key` is any django-ratelimit key: "ip", "user", "user_or_ip", "header:x-device", ...
    `methods` restricts counting to those HTTP methods (default: all).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            request = _find_request(args)
            if methods is None or request.method in methods:
                verdict = check_rate(request, scope=scope, key=key)
                if verdict.limited:
                    logger.info("Rate limit hit: scope=%s path=%s", scope, request.path)
                    return too_many_requests(verdict.retry_after, html=_wants_html(request))
            return view(*args, **kwargs)

        return wrapper

    return decorator


class _ScopeThrottle(BaseThrottle):
    """DRF throttle backed by django-ratelimit counters; DRF turns a refusal into
    429 with Retry-After, and smartmeter.errors gives it the {"detail"} body."""

    scope = "api"
    key = "user_or_ip"

    def applies(self, request, view) -> bool:
        return True

    def allow_request(self, request, view) -> bool:
        self._wait = None
        if not self.applies(request, view):
            return True
        verdict = check_rate(request, scope=self.scope, key=self.key)
        if verdict.limited:
            self._wait = verdict.retry_after
            return False
        return True

    def wait(self):
        return self._wait


class ApiUserRateThrottle(_ScopeThrottle):
    """Every API request: RATELIMIT_API per signed-in user, or per IP when anonymous."""

    scope = "api"


class PdfDownloadThrottle(_ScopeThrottle):
    """Invoice PDF downloads (rendering is expensive): RATELIMIT_PDF per user.

    Applies to views that declare `ratelimit_scope = "pdf"`.
    """

    scope = "pdf"

    def applies(self, request, view) -> bool:
        return getattr(view, "ratelimit_scope", None) == "pdf"


login_rate_limit = rate_limit(scope="login", key="ip", methods=("POST",))
register_rate_limit = rate_limit(scope="register", key="ip", methods=("POST",))
password_reset_rate_limit = rate_limit(scope="password_reset", key="ip", methods=("POST",))
