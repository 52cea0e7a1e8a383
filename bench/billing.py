"""Billing benchmark: bill N meters, each with a month of 15-minute readings, PDFs and emails included.

    .venv/bin/python bench/billing.py [--meters 10000] [--database-url postgres://postgres@127.0.0.1:5432/postgres]
                                      [--chunk-size 500] [--pdf-samples 30] [--email smtp|none] [--keep]

What it does, in one process:

1. Creates a fresh database (PostgreSQL: a new database next to the one in --database-url,
   dropped at the end unless --keep; default: a temporary SQLite file) and migrates it.
2. Registers --meters meters (one customer per 10 meters) and a tariff (the seed's slabs).
3. Writes the month's readings straight into the SQL readings store's table with one
   INSERT ... SELECT per 500 meters (generate_series on PostgreSQL, a recursive CTE on
   SQLite): one reading every 15 minutes from just before the month to just after it
   (2,978 per meter for a 31-day month), a cumulative register following a daily load
   curve, 0.1-0.8 kW on average depending on the meter (73-595 kWh a month, so every
   slab is used). The unique (device, timestamp) index is built after the load, then
   the table is analysed, as a bulk import would do.
4. Times one invoice PDF rendered alone (a real invoice of the month, after a warm-up
   render): --pdf-samples renders before the run, 3 more every 250 meters during it
   (kept out of the run's time) and --pdf-samples after it. The machine is shared and
   its load moves during a long run, so the target is checked load-matched: each
   stretch of 250 invoices is charged its count x the PDF-alone time measured at its
   two ends; the sum is "PDF time x invoices". The ratio against the overall median
   PDF time and the ratio of this process's CPU time are printed too.
5. Runs billing.services.billing_run for the month - the code behind run_billing and the
   monthly schedule: consumption through readings.selectors, bill, PDF written to private
   storage, invoice row, audit line, and the email with the PDF sent over SMTP to a local
   aiosmtpd sink (--email none skips the SMTP server: Django's dummy backend).
6. Counts every SQL statement that reads the readings table during the run.

Prints invoices/s, the PDF time, the run against the target (whole run <= 2 x PDF time
x invoices) and the readings query count against its bound (a fixed number of
statements per chunk of meters, whatever the number of readings).
"""

import argparse
import logging
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.network import free_port  # noqa: E402

MONTH = date(2025, 1, 1)
INTERVAL_MINUTES = 15
LOAD_CHUNK = 500
CUSTOMER_EVERY = 10
SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]
QUERIES_PER_CHUNK_BOUND = 10  # statements on the readings table per consumption chunk (the store uses 2-4)
SAMPLES_DURING_RUN = 3  # PDF-alone renders every 250 meters


def create_postgres_database(url: str) -> str:
    """A fresh database on the server of ``url``; returns its URL."""
    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"smartmeter_bench_billing_{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def drop_postgres_database(admin_url: str, bench_url: str) -> None:
    import psycopg

    name = bench_url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure(database_url: str, workdir: str, email: str, smtp_port: int | None) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MONGODB_URI"] = ""  # the SQL readings store
    os.environ["DEBUG"] = "False"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["ALLOWED_HOSTS"] = "localhost"
    os.environ["MEDIA_ROOT"] = str(Path(workdir) / "media")
    os.environ["STATIC_ROOT"] = str(ROOT / "static")
    os.environ["BILLING_TIME_ZONE"] = "Asia/Kolkata"
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}" if email == "smtp" else ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
    import django

    django.setup()
    from django.conf import settings

    if email == "none":
        settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    # Log lines (one audit line per invoice) go to a file, as they would to a log shipper.
    handler = logging.FileHandler(Path(workdir) / "bench.log")
    handler.setFormatter(logging.getLogger().handlers[0].formatter if logging.getLogger().handlers else None)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)


def seed(meters: int):
    from accounts.models import User
    from billing.selectors import month_period
    from billing.services import tariff_create
    from devices.models import Device

    tariff_create(slabs=SLABS, fixed_charge="50.00", tax_rate="0.18", effective_from=date(2020, 1, 1))
    customers = User.objects.bulk_create(
        User(
            email=f"customer{index:05d}@example.com", name=f"Customer {index}", address=f"{index} Main Road, Bengaluru"
        )
        for index in range(math.ceil(meters / CUSTOMER_EVERY))
    )
    start, _ = month_period(MONTH)
    Device.objects.bulk_create(
        Device(device_id=f"bench-{index:05d}", name="Home", owner=customers[index // CUSTOMER_EVERY])
        for index in range(meters)
    )
    Device.objects.update(created_at=start - timedelta(days=30))
    return [f"bench-{index:05d}" for index in range(meters)]


def load_readings(device_ids: list[str]) -> int:
    """The month's readings, written in bulk SQL; returns how many rows the table holds."""
    from django.db import connection, transaction

    from billing.selectors import month_period

    start, end = month_period(MONTH)
    first = start - timedelta(minutes=INTERVAL_MINUTES)
    last = end + timedelta(minutes=INTERVAL_MINUTES)
    steps = int((last - first) / timedelta(minutes=INTERVAL_MINUTES))
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        # A bulk import builds its indexes after the load.
        if postgres:
            cursor.execute("ALTER TABLE readings_reading DROP CONSTRAINT IF EXISTS reading_unique_device_time")
        cursor.execute("DROP INDEX IF EXISTS reading_unique_device_time")
        cursor.execute("DROP INDEX IF EXISTS reading_time_idx")
    # Register: base + avg_kw * hours + a daily swing that never runs backwards:
    #   d(register)/dt = avg_kw * (1 + 0.6 sin(2 pi h / 24)) >= 0.4 avg_kw
    for offset in range(0, len(device_ids), LOAD_CHUNK):
        chunk = device_ids[offset : offset + LOAD_CHUNK]
        with transaction.atomic(), connection.cursor() as cursor:
            if postgres:
                cursor.execute(
                    """
                    INSERT INTO readings_reading
                        (device_id, "timestamp", voltage, "current", power_w, energy_kwh, power_factor, rssi,
                         received_at)
                    SELECT d.device_id, s.ts,
                           230.0 + 4 * sin(s.h), d.kw * 4.35, d.kw * 1000 * (1 + 0.6 * sin(2 * pi() * s.h / 24)),
                           round((d.base + d.kw * s.h
                                  + d.kw * 0.6 * 24 / (2 * pi()) * (1 - cos(2 * pi() * s.h / 24)))::numeric, 3)::float8,
                           0.95, -60, now()
                    FROM (SELECT device_id, 1000 + (ord %% 97) * 13.0 AS base, 0.1 + (ord %% 71) / 100.0 AS kw
                          FROM unnest(%s::text[]) WITH ORDINALITY AS u(device_id, ord)) d
                    CROSS JOIN (SELECT %s::timestamptz + make_interval(mins => i * %s) AS ts, i * %s / 60.0 AS h
                                FROM generate_series(0, %s) AS i) s
                    """,
                    [chunk, first, INTERVAL_MINUTES, INTERVAL_MINUTES, steps],
                )
            else:
                placeholders = ", ".join(["(%s, %s)"] * len(chunk))
                params = [value for index, device_id in enumerate(chunk, start=offset) for value in (device_id, index)]
                first_epoch = int(first.timestamp())
                cursor.execute(
                    f"""
                    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %s),
                    d(device_id, ord) AS (VALUES {placeholders})
                    INSERT INTO readings_reading
                        (device_id, "timestamp", voltage, "current", power_w, energy_kwh, power_factor, rssi,
                         received_at)
                    SELECT d.device_id,
                           strftime('%%Y-%%m-%%d %%H:%%M:%%S', %s + s.i * %s * 60, 'unixepoch'),
                           230.0, (0.1 + (d.ord %% 71) / 100.0) * 4.35, (0.1 + (d.ord %% 71) / 100.0) * 1000,
                           round(1000 + (d.ord %% 97) * 13.0 + (0.1 + (d.ord %% 71) / 100.0) * s.i * %s / 60.0
                                 + (0.1 + (d.ord %% 71) / 100.0) * 0.6 * 24 / (2 * pi())
                                   * (1 - cos(2 * pi() * s.i * %s / 60.0 / 24)), 3),
                           0.95, -60, datetime('now')
                    FROM d CROSS JOIN s
                    """,  # noqa: S608 - placeholders only
                    [steps, *params, first_epoch, INTERVAL_MINUTES, INTERVAL_MINUTES, INTERVAL_MINUTES],
                )
        print(f"  readings for {min(offset + LOAD_CHUNK, len(device_ids))}/{len(device_ids)} meters", flush=True)
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                'ALTER TABLE readings_reading ADD CONSTRAINT reading_unique_device_time UNIQUE (device_id, "timestamp")'
            )
        else:
            cursor.execute(
                'CREATE UNIQUE INDEX reading_unique_device_time ON readings_reading (device_id, "timestamp")'
            )
        cursor.execute('CREATE INDEX reading_time_idx ON readings_reading ("timestamp")')
        cursor.execute("ANALYZE readings_reading" if postgres else "ANALYZE")
        cursor.execute("SELECT COUNT(*) FROM readings_reading")
        return cursor.fetchone()[0]


class PdfSampler:
    """Times one invoice PDF of this month rendered alone (no database, no email), on demand.

    The machine is shared: its load moves during a long run, so the run samples the
    PDF alone every few hundred meters and compares itself with those samples (taken
    under the same load); the sampling time is kept out of the run's time.
    """

    def __init__(self, device_id: str):
        from billing.numbering import consumer_number, document_number, financial_year
        from billing.selectors import month_consumption, tariff_for_month
        from billing.services.invoices import invoice_build
        from devices.models import Device

        device = Device.objects.select_related("owner").get(device_id=device_id)
        self.invoice = invoice_build(
            device=device,
            month=MONTH,
            consumption=month_consumption(device_id=device_id, month=MONTH),
            tariff=tariff_for_month(month=MONTH),
        )
        # As the run issues it: a series number and the account lines the ledger fills in (which print
        # the account box, the amount in words and the UPI code), so the sample draws the same page.
        self.invoice.number = document_number("INV", financial_year(self.invoice.issue_day), 1)
        self.invoice.consumer_number = consumer_number(device.owner.pk)
        self.invoice.previous_balance = self.invoice.payments_since = Decimal("0.00")
        self.invoice.amount_due = self.invoice.total
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.spent = 0.0
        self.render()  # warm-up: fonts and templates load once per process

    def render(self) -> tuple[float, float]:
        from billing.pdf import render_invoice_pdf

        wall, cpu = time.perf_counter(), time.process_time()
        render_invoice_pdf(self.invoice)
        return time.perf_counter() - wall, time.process_time() - cpu

    def sample(self, count: int) -> None:
        began = time.perf_counter()
        for _ in range(count):
            wall, cpu = self.render()
            self.wall.append(wall)
            self.cpu.append(cpu)
        self.spent += time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (a fresh database is created).")
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--pdf-samples", type=int, default=30)
    parser.add_argument("--email", choices=["smtp", "none"], default="smtp")
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database and the PDFs.")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="smartmeter-bench-billing-")
    sink = None
    bench_url = None
    try:
        smtp_port = None
        if args.email == "smtp":
            smtp_port = free_port()
            sink = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-c",
                    "aiosmtpd.handlers.Sink",
                    "-l",
                    f"127.0.0.1:{smtp_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", smtp_port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
        if args.database_url:
            bench_url = create_postgres_database(args.database_url)
            database_url = bench_url
        else:
            database_url = f"sqlite:///{workdir}/bench.sqlite3"
        configure(database_url, workdir, args.email, smtp_port)
        return run(args, workdir)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=10)
        if bench_url and not args.keep:
            from django.db import connections

            connections.close_all()
            drop_postgres_database(args.database_url, bench_url)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept: {workdir}" + (f" and database {bench_url}" if bench_url else ""))


def run(args, workdir: str) -> int:
    from django.core.management import call_command
    from django.db import connection

    from billing.models import Invoice
    from billing.services import billing_run

    print(f"database: {connection.vendor}; meters: {args.meters}; month: {MONTH:%Y-%m}; email: {args.email}")
    call_command("migrate", verbosity=0, interactive=False)
    began = time.perf_counter()
    device_ids = seed(args.meters)
    readings = load_readings(device_ids)
    load_seconds = time.perf_counter() - began
    print(f"stored {readings:,} readings for {args.meters:,} meters in {load_seconds:.1f} s", flush=True)

    sampler = PdfSampler(device_ids[0])
    sampler.sample(args.pdf_samples)
    print(f"one invoice PDF alone, before the run: {statistics.median(sampler.wall) * 1000:.1f} ms", flush=True)

    statements = {"readings": 0, "all": 0}

    def count(execute, sql, params, many, context):
        statements["all"] += 1
        if "readings_reading" in sql:
            statements["readings"] += 1
        return execute(sql, params, many, context)

    # (invoices, seconds, PDF-alone seconds at its start, at its end) per stretch between two samples
    stretches: list[tuple[int, float, float, float]] = []
    mark = {"billed": 0, "elapsed": 0.0, "pdf": 0.0}

    def progress(p):
        elapsed = time.perf_counter() - began - sampler.spent
        sampler.sample(SAMPLES_DURING_RUN)
        pdf_now = statistics.median(sampler.wall[-SAMPLES_DURING_RUN:])
        invoices_here, seconds_here = p.billed - mark["billed"], elapsed - mark["elapsed"]
        stretches.append((invoices_here, seconds_here, mark["pdf"], pdf_now))
        mark.update(billed=p.billed, elapsed=elapsed, pdf=pdf_now)
        print(
            f"  {p.done}/{p.total} meters billed {p.billed} failed {p.failed}"
            f"  {p.billed / elapsed if elapsed > 0 else 0:.1f} invoices/s overall,"
            f" {invoices_here / seconds_here if seconds_here > 0 else 0:.1f} lately;"
            f" PDF alone now {pdf_now * 1000:.0f} ms",
            flush=True,
        )

    mark["pdf"] = statistics.median(sampler.wall)
    sampler.spent = 0.0
    began = time.perf_counter()
    cpu_began = time.process_time()
    with connection.execute_wrapper(count):
        outcome = billing_run(month=MONTH, chunk_size=args.chunk_size, progress=progress, progress_every=250)
    run_seconds = time.perf_counter() - began - sampler.spent
    sampled_cpu = sum(sampler.cpu[args.pdf_samples :])
    run_cpu = time.process_time() - cpu_began - sampled_cpu
    sampler.sample(args.pdf_samples)
    record = outcome.run
    pdf_seconds = statistics.median(sampler.wall)
    pdf_cpu = statistics.median(sampler.cpu)
    invoices = Invoice.objects.filter(month=MONTH).count()
    pdf_bytes = sum(path.stat().st_size for path in (Path(workdir) / "media").rglob("*.pdf"))

    chunks = math.ceil(args.meters / args.chunk_size)
    # The PDF work this run would have cost at the load each stretch of it ran under:
    # each stretch's invoices x the PDF-alone time averaged over its two ends.
    pdf_work = sum(count * (start + end) / 2 for count, _, start, end in stretches)
    budget = 2 * pdf_work
    print()
    print(f"meters billed:            {record.billed:,} (failed {record.failed}, skipped {record.skipped})")
    print(
        f"invoices in the database: {invoices:,}; PDFs on disk: {pdf_bytes / 1e6:.0f} MB;"
        f" emails: {record.emails_sent:,}"
    )
    print(
        f"billing run:              {run_seconds:.1f} s = {invoices / run_seconds:.1f} invoices/s"
        " (PDF + email included)"
    )
    print(
        f"one PDF alone:            {pdf_seconds * 1000:.1f} ms wall, {pdf_cpu * 1000:.1f} ms CPU"
        f" (median of {len(sampler.wall)} renders before, during and after the run)"
    )
    print(
        f"PDF alone x invoices:     {pdf_work:.1f} s at the load of each stretch of the run"
        f" ({pdf_seconds * invoices:.1f} s at the median); target: run <= 2x = {budget:.1f} s"
    )
    print(
        f"run / (PDF x invoices):   {run_seconds / pdf_work:.2f} load-matched (target <= 2.00);"
        f" {run_seconds / (pdf_seconds * invoices):.2f} against the median PDF time"
    )
    print(
        f"same in CPU time:         run {run_cpu:.1f} s / (PDF {pdf_cpu * 1000:.1f} ms x invoices)"
        f" = {run_cpu / (pdf_cpu * invoices):.2f} (this process only: the database and mail server run beside it)"
    )
    print(
        f"readings statements:      {statements['readings']} for {chunks} chunks of {args.chunk_size} meters"
        f" (bound {QUERIES_PER_CHUNK_BOUND} per chunk); all statements: {statements['all']:,}"
    )
    ok = True
    if record.billed != args.meters or record.failed:
        print("FAIL: not every meter was billed")
        ok = False
    if run_seconds > budget:
        print("FAIL: the run took more than 2 x (PDF time x invoices)")
        ok = False
    if statements["readings"] > QUERIES_PER_CHUNK_BOUND * chunks:
        print("FAIL: consumption was not read in a bounded number of queries")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
