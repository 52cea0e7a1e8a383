"""Hostile input through the real server: daphne serving smartmeter.asgi, as `make run` and
the Procfile do, spoken to over real sockets. Each attack gets its 4xx, the server keeps
answering, and daphne's output holds no traceback (docs/reliability.md#hostile-api-input).
The in-process versions of these cases: tests/ops/test_hostile_input.py."""

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.live_server import LiveServer

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("hostile"))
    live.manage("migrate", "--noinput", "-v", "0")
    live.start()
    yield live
    live.stop()


def _request(server, method, path, body=None, headers=None, *, chunked=False, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _websocket_handshake(server, raw_path: bytes) -> bytes:
    """The status line daphne answers a WebSocket upgrade for `raw_path` with."""
    request = (
        b"GET " + raw_path + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1:" + str(server.port).encode() + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Origin: http://127.0.0.1:" + str(server.port).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_hostile_requests_through_daphne_get_4xx_and_no_traceback(server):
    limit = 1024 * 1024  # REQUEST_MAX_BODY_BYTES's default
    json_headers = {"Content-Type": "application/json"}

    # 1. A 10 MB body, anonymously, to register: 413 JSON.
    status, content_type, body = _request(
        server, "POST", "/api/auth/register", b'{"email": "' + b"a" * TEN_MB + b'"}', json_headers
    )
    assert (status, content_type) == (413, "application/json")
    assert json.loads(body) == {"detail": f"Request body too large: at most {limit} bytes."}

    # 2. The same without a Content-Length (chunked): cut off at the limit, 413 JSON.
    status, _, body = _request(
        server, "POST", "/api/auth/register", iter([b"[" * 65_536] * 64), json_headers, chunked=True
    )
    assert status == 413
    assert json.loads(body)["detail"].startswith("Request body too large")

    # 3. JSON 100,000 levels deep: 400 with the reason.
    status, _, body = _request(server, "POST", "/api/auth/register", b"[" * 100_000, json_headers)
    assert status == 400
    assert json.loads(body) == {"detail": "JSON nested deeper than 64 levels."}

    # 4. Ids no meter could have: the JSON 404 of the API, the 404 page of the site.
    for path in ["/api/devices/a%00b", "/api/invoices/m%C3%A9ter/pdf", "/api/billing/a%00b"]:
        status, content_type, body = _request(server, "GET", path)
        assert (status, content_type) == (404, "application/json"), path
        assert json.loads(body)["detail"].startswith("No API endpoint")
    assert _request(server, "GET", "/meters/a%00b/")[0] == 404

    # 5. WebSocket paths no route takes: refused at the handshake (the consumer closes before accepting).
    for raw_path in [b"/ws/devices/m%C3%A9ter/live", b"/ws/devices/a%00b/live", b"/ws/nothing"]:
        assert _websocket_handshake(server, raw_path).startswith(b"HTTP/1.1 403"), raw_path
    # Raw UTF-8 in the request line is not HTTP: the WebSocket library refuses it before routing.
    assert _websocket_handshake(server, "/ws/devices/méter/live".encode()).startswith(b"HTTP/1.1 400")

    # 6. A 12 KB path answers at once, and /health answers meanwhile.
    def timed(path):
        started = time.monotonic()
        status = _request(server, "GET", path, timeout=10)[0]
        return status, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        long_path = pool.submit(timed, "/api/" + "a/" * 6_000)
        health = pool.submit(timed, "/health")
        (long_status, long_seconds), (health_status, health_seconds) = long_path.result(), health.result()
    assert long_status == 404
    assert long_seconds < 0.5
    assert health_status in (200, 503)  # 503: no consumer heartbeat in this throwaway setup; answered all the same
    assert health_seconds < 0.5

    # The server is still well, and said nothing alarming.
    assert _request(server, "GET", "/api/devices")[0] == 401
    server.stop()
    output = server.log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert " 500 " not in output, output[-3000:]


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """daphne as production runs it (no --proxy-headers), with a small sign-in budget."""
    live = LiveServer(tmp_path_factory.mktemp("forged"))
    live.env.update({"RATELIMIT_LOGIN": "3/m", "RATELIMIT_LOGIN_ACCOUNT": "100/m", "TRUSTED_PROXY_COUNT": "0"})
    live.manage("migrate", "--noinput", "-v", "0")
    live.start()
    yield live
    live.stop()


def test_a_forged_forwarded_for_buys_no_sign_in_attempts_through_daphne(limited_server):
    statuses = []
    for attempt in range(5):
        status, _, _ = _request(
            limited_server,
            "POST",
            "/api/auth/login",
            json.dumps({"email": f"guess{attempt}@example.com", "password": "wrong"}).encode(),
            {"Content-Type": "application/json", "X-Forwarded-For": f"198.51.100.{attempt}"},
        )
        statuses.append(status)
    assert statuses == [401, 401, 401, 429, 429]
