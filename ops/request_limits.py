"""How large and how deep a request may be: the rules shared by the ASGI guard, the Django
middleware and the JSON parser (docs/reliability.md#hostile-api-input).

Pure apart from reading settings: no app imports, no I/O.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from django.conf import settings

API_PREFIX = "/api/"
ADMIN_PREFIX = "/admin/"


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have.

    The admin has its own, larger limit rather than an exemption: its forms (and any file
    upload added to it) arrive before the login check, so an exemption would let anyone
    send an unbounded body to /admin/login/.
    """
    if path.startswith(ADMIN_PREFIX):
        return settings.REQUEST_MAX_BODY_BYTES_ADMIN
    return settings.REQUEST_MAX_BODY_BYTES


def form_fields_limit(path: str) -> int:
    """The limit a RequestDataTooBig (Django's DATA_UPLOAD_MAX_MEMORY_SIZE on form fields) stands for."""
    return min(body_limit(path), settings.DATA_UPLOAD_MAX_MEMORY_SIZE or body_limit(path))


def declared_length(value: str | bytes | None) -> int | None:
    """The Content-Length a client declared, or None when there is none (a chunked body) or it is unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    return int(text) if text.isdigit() else None


def too_large_message(limit: int) -> str:
    return f"Request body too large: at most {limit} bytes."


def too_large_answer(path: str, limit: int) -> tuple[str, bytes]:
    """(content type, body) of the 413: the API's {"detail"} JSON under /api/, plain text elsewhere."""
    message = too_large_message(limit)
    if path.startswith(API_PREFIX):
        return "application/json", json.dumps({"detail": message}).encode()
    return "text/plain; charset=utf-8", f"413 {message}\n".encode()


# A JSON string (its closing quote optional, so an unterminated one costs no backtracking).
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_nesting_exceeds(text: str, limit: int) -> bool:
    """True when `text` opens more than `limit` arrays/objects inside each other.

    Linear time, before any parsing: Python's json module recurses once per level and
    raises RecursionError (a 500) on a body like "[" * 100_000. Brackets inside strings
    do not count. Text that is not JSON at all may pass; the parser rejects it next.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets.encode("ascii"))), default=0) > limit


def too_deep_message(limit: int) -> str:
    return f"JSON nested deeper than {limit} levels."
