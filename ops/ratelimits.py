"""Rate limits on top of django-ratelimit, answering 429 JSON with Retry-After.

`rate_limit(scope=..., key=...)` decorates function views and view methods;
`ApiUserRateThrottle` and `PdfDownloadThrottle` are the DRF throttles. Scopes, defaults
and where the counters live: docs/operations.md#rate-limits.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
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
    "login_account": "RATELIMIT_LOGIN_ACCOUNT",
    "register": "RATELIMIT_REGISTER",
    "api": "RATELIMIT_API",
    "pdf": "RATELIMIT_PDF",
    "password_reset": "RATELIMIT_PASSWORD_RESET",
    "claim": "RATELIMIT_CLAIM",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    limited: bool
    retry_after: int  # seconds until the current window ends (>= 1 when limited)


def scope_rate(scope: str) -> str | None:
    setting = SCOPE_SETTINGS.get(scope)
    if setting is None:
        raise ValueError(f"Unknown rate-limit scope {scope!r}")
    # Read on every request, so a changed setting (override_settings in tests) applies at once.
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


def rate_limit(*, scope: str, key: str | Callable = "user_or_ip", methods: tuple[str, ...] | None = None):
    """Limit a view (function or method) by `scope`'s rate, keyed by `key`.

    `key` is any django-ratelimit key: "ip", "user", "user_or_ip", "header:x-device", ...,
    or a callable (group, request) -> str; a callable's empty answer counts nothing (a
    sign-in naming no account is limited by address alone).
    `methods` restricts counting to those HTTP methods (default: all).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            request = _find_request(args)
            counted = methods is None or request.method in methods
            if counted and callable(key):
                counted = bool(key(f"smartmeter.{scope}", request))
            if counted:
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


def submitted_account(group: str, request) -> str:
    """The account a sign-in names (its email, as typed), whether or not such an account exists."""
    data = getattr(request, "data", None)  # DRF parses JSON and forms alike
    if data is None:
        data = request.POST
    try:
        account = data.get("email") or data.get("username") or ""
    except AttributeError:  # a JSON body that is not an object
        account = ""
    return str(account).strip().lower()[:254]


def _both(first, second):
    return lambda view: first(second(view))


# Sign-in surfaces: per client address, and per account tried from any address. The 429
# reads the same whether the account exists or not.
login_rate_limit = _both(
    rate_limit(scope="login", key="ip", methods=("POST",)),
    rate_limit(scope="login_account", key=submitted_account, methods=("POST",)),
)
register_rate_limit = rate_limit(scope="register", key="ip", methods=("POST",))
# Password reset requests: per address, and per account named (sharing the account's sign-in budget).
password_reset_rate_limit = _both(
    rate_limit(scope="password_reset", key="ip", methods=("POST",)),
    rate_limit(scope="login_account", key=submitted_account, methods=("POST",)),
)
# Claiming a meter with its code: per client address, and per signed-in account from any
# address, so neither many accounts nor many addresses buy more guesses. Views apply it
# after authentication (DRF methods, or under login_required).
claim_rate_limit = _both(
    rate_limit(scope="claim", key="ip", methods=("POST",)),
    rate_limit(scope="claim", key="user", methods=("POST",)),
)
