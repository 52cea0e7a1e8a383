"""Readings API benchmark: a month of one-minute readings for one meter on SQLite.

    .venv/bin/python bench/readings_api.py [--iterations 60] [--days 30] [--database-url URL]

Builds a fresh database (a temporary SQLite file unless --database-url is given),
stores one reading per minute for --days days through the SQL readings store,
then for agg=hour and agg=day over the whole month measures, interleaved:

- bare:  the SQL statements the store issues for that request, replayed
         with a plain cursor (execute + fetchall), nothing else;
- store: readings.selectors.readings_series (bare SQL + bucket assembly);
- http:  GET /api/readings/<id>?from=&to=&agg= through Django's test client
         with a JWT, production settings (DEBUG off, rate limits on).

Prints p50/p95 per layer and checks the targets: http p95 < 100 ms and the
API adds at most 50% over the bare query (p50 and p95).
"""

import argparse
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database_url: str | None, workdir: str) -> None:
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["MONGODB_URI"] = ""  # the SQL store
    os.environ["DEBUG"] = "False"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ["SECURE_SSL_REDIRECT"] = "False"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["STATIC_ROOT"] = workdir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
    import django

    django.setup()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="smartmeter-bench-") as workdir:
        configure(args.database_url, workdir)
        return run(args)


def run(args) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from devices.models import Device
    from readings.selectors import readings_series
    from readings.stores import get_store
    from readings.types import Reading

    call_command("migrate", verbosity=0, interactive=False)
    owner = User.objects.create_user(email=f"bench-{secrets.token_hex(4)}@example.com", password=secrets.token_hex(16))
    device = Device.objects.create(device_id=f"bench-{secrets.token_hex(4)}", owner=owner, name="Bench")

    start = datetime(2025, 3, 1, tzinfo=UTC) - timedelta(minutes=330)  # midnight in Kolkata
    end = start + timedelta(days=args.days)
    minutes = args.days * 24 * 60
    store = get_store()
    register = 1000.0
    began = time.perf_counter()
    batch = []
    for minute in range(minutes):
        power = 400.0 + 300.0 * ((minute // 60) % 24 in range(18, 23)) + (minute % 7) * 10.0
        register += power / 60000.0
        batch.append(
            Reading(
                device_id=device.device_id,
                timestamp=start + timedelta(minutes=minute),
                voltage=229.0 + (minute % 5),
                current=power / 230.0,
                power_w=power,
                energy_kwh=round(register, 3),
                power_factor=0.93,
                rssi=-60,
            )
        )
        if len(batch) == 5000:
            store.write_many(batch)
            batch = []
    store.write_many(batch)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
    print(f"stored {store.count(device.device_id)} readings in {time.perf_counter() - began:.1f} s")

    client = Client(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(owner).access_token}")
    url = f"/api/readings/{device.device_id}"
    params = {"from": start.isoformat(), "to": end.isoformat()}

    def captured_statements(agg: str) -> list[tuple[str, list]]:
        statements = []

        def capture(execute, sql, sql_params, many, context):
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):  # the queries, not BEGIN
                statements.append((sql, sql_params))
            return execute(sql, sql_params, many, context)

        with connection.execute_wrapper(capture):
            readings_series(device_id=device.device_id, start=start, end=end, agg=agg)
        return statements

    def bare(statements) -> None:
        with connection.cursor() as cursor:
            for sql, sql_params in statements:
                cursor.execute(sql, sql_params)
                cursor.fetchall()

    results = {}
    failures = []
    layers = ("bare", "store", "http")
    for agg in ("hour", "day"):
        statements = captured_statements(agg)
        wall = {layer: [] for layer in layers}
        cpu = {layer: [] for layer in layers}
        buckets = None
        for iteration in range(args.iterations + 5):
            marks = [(time.perf_counter(), time.thread_time())]
            bare(statements)
            marks.append((time.perf_counter(), time.thread_time()))
            readings_series(device_id=device.device_id, start=start, end=end, agg=agg)
            marks.append((time.perf_counter(), time.thread_time()))
            response = client.get(url, {**params, "agg": agg})
            marks.append((time.perf_counter(), time.thread_time()))
            if response.status_code != 200:
                print(f"HTTP {response.status_code}: {response.content[:300]!r}")
                return 2
            buckets = response.json()["count"]
            if iteration >= 5:  # warm-up rounds are not counted
                for index, layer in enumerate(layers):
                    wall[layer].append(marks[index + 1][0] - marks[index][0])
                    cpu[layer].append(marks[index + 1][1] - marks[index][1])
        summary = {layer: (percentile(wall[layer], 0.5), percentile(wall[layer], 0.95)) for layer in layers}
        cpu_p50 = {layer: percentile(cpu[layer], 0.5) for layer in layers}
        results[agg] = (buckets, len(statements), summary, cpu_p50)
        bare50, bare95 = summary["bare"]
        http50, http95 = summary["http"]
        if http95 >= 0.100:
            failures.append(f"agg={agg}: http p95 {http95 * 1000:.1f} ms is not under 100 ms")
        if http50 > 1.5 * bare50 or http95 > 1.5 * bare95:
            failures.append(f"agg={agg}: the API adds more than 50% over the bare query")

    print()
    print(f"{args.days} days of one-minute readings ({minutes} readings), {args.iterations} requests per agg")
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{value:.2f}' for value in os.getloadavg())} after the run")
    print()
    print("| agg | buckets | statements | bare SQL p50 / p95 | store p50 / p95 | HTTP p50 / p95 | HTTP / bare |")
    print("|---|---|---|---|---|---|---|")
    for agg, (buckets, statements, summary, _) in results.items():
        cells = [f"{summary[layer][0] * 1000:.1f} / {summary[layer][1] * 1000:.1f} ms" for layer in layers]
        ratio = f"{summary['http'][0] / summary['bare'][0]:.2f}, {summary['http'][1] / summary['bare'][1]:.2f}"
        print(f"| {agg} | {buckets} | {statements} | {' | '.join(cells)} | {ratio} |")
    print()
    print("CPU time of this thread per request, p50 (what the request costs, whatever the machine's load):")
    print()
    print("| agg | bare SQL | store | HTTP | HTTP / bare |")
    print("|---|---|---|---|---|")
    for agg, (_, _, _, cpu_p50) in results.items():
        cells = [f"{cpu_p50[layer] * 1000:.1f} ms" for layer in layers]
        print(f"| {agg} | {' | '.join(cells)} | {cpu_p50['http'] / cpu_p50['bare']:.2f} |")
    print()
    print(f"targets: http p95 < 100 ms, http <= 1.5 x bare  ->  {'MET' if not failures else 'NOT MET'}")
    for failure in failures:
        print(f"  - {failure}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
