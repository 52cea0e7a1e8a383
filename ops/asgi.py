"""ASGI guard in front of Django under daphne: request bodies over the limit get a 413
before Django reads them (docs/reliability.md#hostile-api-input).

Django's ASGI handler reads the whole body into a temporary file before any middleware
runs, so the limit has to sit here: a declared Content-Length over the limit is refused
without passing the body on, and a chunked body (no Content-Length) is counted as it
arrives and cut off once it passes the limit. ops.middleware.RequestBodyLimitMiddleware
applies the same rule inside Django for the WSGI app and the test client.
"""

from __future__ import annotations

import logging

from ops import metrics
from ops.request_limits import body_limit, declared_length, too_large_answer

logger = logging.getLogger("smartmeter.request")

_TOO_LARGE_VIEW = "<body-too-large>"  # the metrics label: no view ever saw the request


class RequestBodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        declared = declared_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            return await _refuse(scope, send, path, limit)

        received = 0
        cut_off = False
        answered = False

        async def counted_receive():
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django treats a disconnect while reading the body as an aborted request
                    # and answers nothing; the 413 is sent below.
                    cut_off = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if cut_off and not answered:
            await _refuse(scope, send, path, limit)


async def _refuse(scope, send, path: str, limit: int) -> None:
    content_type, body = too_large_answer(path, limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body may still be on its way: do not read it as the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    method = scope.get("method", "")
    metrics.HTTP_REQUESTS.labels(view=_TOO_LARGE_VIEW, method=method, status="413").inc()
    metrics.HTTP_ERRORS.labels(view=_TOO_LARGE_VIEW, status_class="4xx").inc()
    logger.info(
        "%s %s 413 body over %d bytes",
        method,
        path,
        limit,
        extra={"method": method, "path": path, "status": 413, "view": _TOO_LARGE_VIEW},
    )
