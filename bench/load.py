"""Bounded load test on loopback: the readings API and login under wrk while the
consumer ingests telemetry as fast as it can; /health polled throughout.

Everything runs locally and stops by itself: a private PostgreSQL and Mosquitto (the
lab from tests/support/faults.py), `manage.py mqtt_consumer`, one daphne process serving the
app with production settings (DEBUG=False, JSON logs, default rate limits), an
unpaced publisher, and wrk (Debian package `wrk`: `apt-get install wrk`).

    .venv/bin/python bench/load.py [--duration 15] [--connections 16] [--users 40]

Phases:
  1. readings API, spread over --users customers (each under its 600/min budget):
     throughput and latency percentiles;
  2. the API hammered by one customer: the per-user limit engages (429 + Retry-After);
  3. login with a wrong password from one address: the per-IP login limit engages;
  4. login with the right password from one address: the same limit holds for valid logins.
Figures are recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.faults  # noqa: E402, F401 - sets up Django for the lab below
from devtools.broker import mosquitto_binary  # noqa: E402
from readings.ingestion.mqtt import BrokerSettings, TelemetryPublisher  # noqa: E402
from tests.support.faults import PYTHON, Lab, postgres_available, telemetry_stream  # noqa: E402
from tests.support.network import free_port, wait_until  # noqa: E402

WRK_SCRIPT = r"""
-- Rotates bearer tokens (one per request), counts statuses, prints JSON at the end.
local tokens, paths = {}, {}
local counter = 0
c2xx, c401, c429, cother, retry_after_seen = 0, 0, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  if path and path ~= "" then
    for line in io.lines(path) do
      local token, request_path = line:match("^(%S+)%s*(%S*)$")
      table.insert(tokens, token)
      table.insert(paths, request_path)
    end
  end
  body = args[2] or ""
  method = args[3] or "GET"
end

function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json"}
  local request_path = nil
  if #tokens > 0 then
    local index = (counter % #tokens) + 1
    headers["Authorization"] = "Bearer " .. tokens[index]
    if paths[index] ~= "" then request_path = paths[index] end
  end
  if body ~= "" then
    return wrk.format(method, request_path, headers, body)
  end
  return wrk.format(method, request_path, headers)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then c2xx = c2xx + 1
  elseif status == 401 then c401 = c401 + 1
  elseif status == 429 then
    c429 = c429 + 1
    if headers["Retry-After"] or headers["retry-after"] then retry_after_seen = retry_after_seen + 1 end
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local totals = {c2xx = 0, c401 = 0, c429 = 0, cother = 0, retry_after_seen = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.3f, "errors_socket": %d, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "2xx": %d, "401": %d, "429": %d, "other": %d, "retry_after_headers": %d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, totals.c2xx, totals.c401, totals.c429, totals.cother, totals.retry_after_seen))
end
"""

SEED = """
import json, os
from datetime import timedelta
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
from devices.models import Device
from readings.stores import get_store
from readings.types import Reading

users, tokens = int(os.environ["LOAD_USERS"]), []
start = timezone.now() - timedelta(days=1)
store = get_store()
for number in range(users):
    user = User.objects.create_user(email=f"load{number}@example.com", password="load-test-password-1", name="Load")
    device = Device.objects.create(device_id=f"load-meter-{number:03d}", owner=user, name="Load")
    store.write_many([
        Reading(device.device_id, start + timedelta(minutes=m), 230.0, 2.0, 450.0 + m % 60, 100 + m * 0.01, 0.97, -60)
        for m in range(1440)
    ])
    tokens.append(str(AccessToken.for_user(user)))
print("TOKENS " + json.dumps(tokens))
"""


def run_wrk(url: str, *, duration: int, connections: int, tokens_file: str = "", body: str = "", method: str = "GET"):
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    command = [
        "wrk",
        "--threads",
        "2",
        "--connections",
        str(connections),
        "--duration",
        f"{duration}s",
        "--timeout",
        "10s",
        "--script",
        str(script),
        url,
        "--",
        tokens_file,
        body,
        method,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    script.unlink()
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON ") :])
            data["rps"] = round(data["requests"] / data["duration_s"], 1)
            return data
    raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")


class HealthPoller(threading.Thread):
    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.statuses: dict[int, int] = {}
        self.slowest_ms = 0.0
        self._stop = threading.Event()

    def run(self):
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310 - loopback
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            self.slowest_ms = max(self.slowest_ms, (time.perf_counter() - started) * 1000)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self._stop.wait(0.5)

    def stop(self):
        self._stop.set()
        self.join(15)


class Firehose(threading.Thread):
    """Publishes valid telemetry unpaced until stopped (the consumer's full speed)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.published = 0
        self._stop = threading.Event()

    def run(self):
        publisher = TelemetryPublisher(
            BrokerSettings.from_url(self.url), client_id=f"load-firehose-{time.monotonic_ns()}"
        )
        publisher.connect(timeout=10)
        offset = 0
        try:
            while not self._stop.is_set():
                for topic, payload in telemetry_stream(1000, offset=offset):
                    publisher.publish(topic, payload)
                offset += 1000
                self.published = offset
            publisher.flush(timeout=60)
        finally:
            publisher.close()

    def stop(self):
        self._stop.set()
        self.join(90)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=40, help="customers sharing the readings load")
    parser.add_argument("--keep", action="store_true", help="keep the lab directory (logs) afterwards")
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    if not postgres_available() or mosquitto_binary() is None:
        print("needs PostgreSQL server binaries (initdb, pg_ctl) and mosquitto", file=sys.stderr)
        return 2

    report: dict = {}
    secret_key = secrets.token_urlsafe(50)  # the tokens minted below must verify in the web process
    with Lab(keep=options.keep) as lab:
        print(f"lab in {lab.root}", flush=True)
        seeded = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SEED],
            cwd=ROOT,
            env={**lab.env(), "LOAD_USERS": str(options.users), "SECRET_KEY": secret_key},
            capture_output=True,
            text=True,
            check=True,
        )
        tokens = json.loads(seeded.stdout.split("TOKENS ", 1)[1].splitlines()[0])
        tokens_file = lab.root / "tokens.txt"
        # "<token> <path>": every customer reads their own meter.
        tokens_file.write_text(
            "".join(f"{token} /api/readings/load-meter-{n:03d}?agg=hour\n" for n, token in enumerate(tokens))
        )
        one_token_file = lab.root / "one-token.txt"
        one_token_file.write_text(f"{tokens[0]}\n")

        port = free_port()
        web_env = lab.env(
            DEBUG="False",
            SECRET_KEY=secret_key,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="False",
            LOG_FORMAT="json",
        )
        web_log = (lab.root / "web.log").open("ab")
        web = subprocess.Popen(
            [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "smartmeter.asgi:application"],
            cwd=ROOT,
            env=web_env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            consumer = lab.consumer().start()
            consumer.wait_subscribed()
            wait_until(lambda: _status(f"{base}/health") == 200, timeout=60, interval=0.5, what="/health to answer 200")
            health = HealthPoller(f"{base}/health")
            health.start()
            firehose = Firehose(lab.broker.url)
            stored_before = lab.stored()
            ingest_started = time.monotonic()
            firehose.start()

            readings_url = f"{base}/api/readings/load-meter-000?agg=hour"
            report["readings_api_many_users"] = run_wrk(
                readings_url,
                duration=options.duration,
                connections=options.connections,
                tokens_file=str(tokens_file),
            )
            # One customer flooding the API (a cheap endpoint, so the budget runs out within the phase).
            # Fixed one-minute windows let a client spend up to two budgets across a window edge;
            # 30 s at this rate is more than two budgets, so the limit must show.
            report["api_one_user_flood"] = run_wrk(
                f"{base}/api/auth/me",
                duration=max(30, options.duration),
                connections=options.connections,
                tokens_file=str(one_token_file),
            )
            wrong = json.dumps({"email": "load0@example.com", "password": "not-the-password"})
            report["login_wrong_password_one_ip"] = run_wrk(
                f"{base}/api/auth/login", duration=options.duration, connections=4, body=wrong, method="POST"
            )
            right = json.dumps({"email": "load1@example.com", "password": "load-test-password-1"})
            report["login_right_password_same_ip"] = run_wrk(
                f"{base}/api/auth/login", duration=5, connections=2, body=right, method="POST"
            )

            ingest_seconds = time.monotonic() - ingest_started
            stored_during = lab.stored() - stored_before
            firehose.stop()
            health.stop()
            report["ingest_during_load"] = {
                "published": firehose.published,
                "stored_during_load": stored_during,
                "seconds": round(ingest_seconds, 1),
                "stored_per_second": round(stored_during / ingest_seconds),
            }
            report["health_during_load"] = {
                "statuses": health.statuses,
                "slowest_ms": round(health.slowest_ms, 1),
            }
            wait_until(
                lambda: lab.stored() - stored_before >= firehose.published,
                timeout=300,
                interval=0.5,
                what="the backlog",
            )
            report["ingest_during_load"]["all_stored_after"] = lab.stored() - stored_before == firehose.published
        finally:
            web.terminate()
            web.wait(20)
    print(json.dumps(report, indent=2))
    many, one = report["readings_api_many_users"], report["api_one_user_flood"]
    ok = (
        many["other"] == 0
        and many["429"] == 0
        and one["429"] > 0
        and one["2xx"] <= 1200
        and report["login_wrong_password_one_ip"]["429"] > 0
        and report["login_wrong_password_one_ip"]["401"] <= 10
        and set(report["health_during_load"]["statuses"]) == {200}
        and report["ingest_during_load"]["all_stored_after"]
    )
    print("verdict:", "OK" if ok else "CHECK THE FIGURES")
    return 0 if ok else 1


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
