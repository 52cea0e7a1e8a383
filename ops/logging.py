"""Log plumbing: request ids on every line, secrets never written, JSON or plain output.

Settings install `RequestIdFilter` and `RedactSecretsFilter` as handler filters (so records
from every logger pass through them) and `JsonFormatter` or `PlainFormatter`. What a line
carries and what is redacted: docs/operations.md#logs.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Mapping

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REDACTED = "[REDACTED]"
SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|authorization|cookie|session[_-]?id|credential|private[_-]?key",
    re.IGNORECASE,
)
# Every pattern below runs in time linear in the text (a request path is attacker-controlled and
# every access line goes through here): a key may only start where a word starts (lookbehind),
# words are matched possessively, and quoted or URL-embedded values have a length bound.
# key=value, key: value, "key": "value" (JSON) and ?key=value (query strings): the key and
# separator are found first, and the value is matched only after a sensitive key.
_KEY_SEP = re.compile(r"""(?<![\w"'-])(?P<key>["']?[\w-]++["']?)(?P<sep>\s*+[:=]\s*+)""")
_SENSITIVE_IN_KEY = re.compile(
    r"pass(?:word|wd|phrase)?|secret|token|api[_-]?key|authorization|cookie|sessionid|credential", re.IGNORECASE
)
_VALUE = re.compile(
    r"""(?P<value>"[^"\n]{0,1024}"|'[^'\n]{0,1024}'|(?:Bearer|Basic)\s++[^\s,;&"']++|[^\s,;&"'}\]]++)""",
    re.IGNORECASE,
)
# scheme://user:password@host
_URL_CREDENTIALS = re.compile(
    r"(?P<prefix>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^:/@\s]{0,256}:)(?P<password>[^@\s/]{1,256})(?=@)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s++[A-Za-z0-9\-._~+/]++=*+", re.IGNORECASE)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
RESERVED_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "", (), None)).keys() | {"message", "asctime", "request_id"}
)


def redact_text(text: str) -> str:
    """Mask secrets inside free text (log messages, tracebacks, URLs), in linear time."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: m.group("prefix") + REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _mask_key_values(text)


def _mask_key_values(text: str) -> str:
    parts: list[str] = []
    done = 0  # text[:done] is already in parts
    position = 0
    while (found := _KEY_SEP.search(text, position)) is not None:
        position = found.end()
        if _SENSITIVE_IN_KEY.search(found.group("key")) is None:
            position = found.start("sep") or position  # the value may itself be a key: look again from there
            continue
        value = _VALUE.match(text, found.end())
        if value is None:
            continue
        raw = value.group("value")
        quote = raw[0] if raw[:1] in {'"', "'"} else ""
        parts.append(text[done : found.end()])
        parts.append(f"{quote}{REDACTED}{quote}")
        done = position = value.end()
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def redact_value(value, *, depth: int = 0):
    """Mask sensitive keys in nested dicts/lists and secrets inside strings."""
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and SENSITIVE_KEY.search(k) else redact_value(v, depth=depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, depth=depth + 1) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Runs before formatting: the formatted output never holds a secret."""

    _traceback_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we have, readable
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        for attr, value in list(vars(record).items()):
            if attr in RESERVED_ATTRS:
                continue
            if SENSITIVE_KEY.search(attr):
                setattr(record, attr, REDACTED)
            elif isinstance(value, str | Mapping | list | tuple):
                setattr(record, attr, redact_value(value))
        if record.exc_info:
            record.exc_text = redact_text(self._traceback_formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line: every extra field becomes a key; the traceback,
    already redacted into `exc_text` by RedactSecretsFilter, lands under "exc_info"."""


class PlainFormatter(logging.Formatter):
    """Readable lines for development, with extra fields appended as key=value."""

    def __init__(self, fmt=None, datefmt=None, style="%", **kwargs):
        fmt = fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        super().__init__(fmt, datefmt, style, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        text = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in RESERVED_ATTRS and not k.startswith("_")}
        if extras:
            first_line, _, rest = text.partition("\n")
            pairs = " ".join(f"{k}={v}" for k, v in extras.items() if k != "request")
            text = f"{first_line} {pairs}" + (f"\n{rest}" if rest else "")
        return text
