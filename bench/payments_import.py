"""Bank statement import benchmark: a 10,000-line statement matched and recorded as payments.

    .venv/bin/python bench/payments_import.py [--accounts 2000] [--lines 10000]
                                              [--database-url postgres://postgres@127.0.0.1:5432/sm_bank_bench]
                                              [--keep]

What it does, in one process:

1. Creates a fresh database (PostgreSQL: the database named in --database-url, dropped first
   if it exists and again at the end unless --keep; default: a temporary SQLite file) and migrates it.
2. Opens --accounts accounts, each with a meter and an issued invoice of 1,268.50 posted to its
   ledger, all in bulk (one invoice in ten keeps an old-format number, INV-yyyymm-nnnnnn).
3. Writes a statement CSV of --lines credit lines over the last four weeks: about half name a
   consumer number, half an invoice number (new or old format), 2% name nothing we know.
4. Times a bare bulk insert of the same lines as BankStatementLine + Payment rows (bulk_create:
   no parsing, matching, receipt numbers, ledger or allocation) as the baseline, then deletes them.
5. Times billing.services.bank_statement_import on the file (parse, match, receipts, ledger,
   allocation, all in one transaction), then the same file uploaded again (nothing recorded twice).

Prints lines/s, seconds, the ratio to the baseline and the import against its target (10,000
lines in 30 s or less, scaled to --lines); exits 1 when a check fails.
"""

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS_PER_10K = 30.0
INVOICE_TOTAL = Decimal("1268.50")
OLD_FORMAT_EVERY = 10  # one invoice in ten keeps a number from before the yearly series
UNMATCHED_EVERY = 50  # 2% of lines name nothing we know


def reset_postgres_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure(database_url: str, workdir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MONGODB_URI"] = ""
    os.environ["DEBUG"] = "False"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["ALLOWED_HOSTS"] = "localhost"
    os.environ["MEDIA_ROOT"] = str(Path(workdir) / "media")
    os.environ["STATIC_ROOT"] = str(ROOT / "static")
    os.environ["BILLING_TIME_ZONE"] = "Asia/Kolkata"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
    import django

    django.setup()
    import logging

    # One audit line per payment goes to a file, as it would to a log shipper.
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(logging.FileHandler(Path(workdir) / "bench.log"))
    for name in ("smartmeter.audit", "smartmeter", "billing"):
        logger = logging.getLogger(name)
        for existing in list(logger.handlers):
            logger.removeHandler(existing)
        logger.propagate = True


def seed(accounts: int) -> list[dict]:
    """Accounts, meters and one issued, posted invoice each, in bulk; returns what a narration can name."""
    from django.db import transaction

    from accounts.models import User
    from billing.models import Account, DocumentSequence, Invoice, LedgerEntry
    from billing.numbering import consumer_number
    from billing.selectors import billing_today
    from billing.services.ledger import document_numbers_take
    from billing.services.tariffs import tariff_create
    from devices.models import Device

    today = billing_today()
    month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    tariff = tariff_create(
        slabs=[
            {"range_start": 0, "range_end": 100, "rate": "3.50"},
            {"range_start": 101, "range_end": 300, "rate": "4.50"},
            {"range_start": 301, "range_end": None, "rate": "6.00"},
        ],
        fixed_charge="50.00",
        tax_rate="0.18",
        effective_from=month.replace(year=month.year - 1),
    )
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(email=f"customer{index:05d}@example.com", name=f"Customer {index}") for index in range(accounts)
        )
        account_rows = Account.objects.bulk_create(
            Account(customer=user, consumer_number=consumer_number(user.pk)) for user in users
        )
        devices = Device.objects.bulk_create(
            Device(device_id=f"bench-{index:05d}", name="Home", owner=user) for index, user in enumerate(users)
        )
        new_numbers = iter(document_numbers_take(series=DocumentSequence.Series.INVOICE, on=today, count=accounts))
        invoices = Invoice.objects.bulk_create(
            Invoice(
                number=f"INV-{month:%Y%m}-{device.pk:06d}" if index % OLD_FORMAT_EVERY == 0 else next(new_numbers),
                device=device,
                month=month,
                tariff=tariff,
                energy_kwh=Decimal("250.000"),
                slabs=[],
                subtotal=Decimal("1025.00"),
                fixed_charge=Decimal("50.00"),
                tax_rate=Decimal("0.1800"),
                tax=Decimal("193.50"),
                total=INVOICE_TOTAL,
                customer=user,
                account=account,
                consumer_number=account.consumer_number,
                customer_email=user.email,
                previous_balance=Decimal("0.00"),
                payments_since=Decimal("0.00"),
                amount_due=INVOICE_TOTAL,
                due_date=today + timedelta(days=15),
            )
            for index, (device, user, account) in enumerate(zip(devices, users, account_rows, strict=True))
        )
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                account=invoice.account,
                kind=LedgerEntry.Kind.INVOICE,
                amount=invoice.total,
                posted_on=today - timedelta(days=30),
                document_number=invoice.number,
                description="Electricity bill",
                invoice=invoice,
            )
            for invoice in invoices
        )
    return [{"consumer_number": invoice.consumer_number, "invoice_number": invoice.number} for invoice in invoices]


def statement_csv(named: list[dict], lines: int) -> tuple[str, list[tuple]]:
    """The CSV text and its lines as (day, amount, narration) for the baseline."""
    from billing.selectors import billing_today

    today = billing_today()
    rows = []
    out = ["Txn Date,Value Date,Description,Ref No./Cheque No.,Debit,Credit,Balance"]
    for index in range(lines):
        day = today - timedelta(days=index % 28)
        amount = Decimal(200 + (index % 40) * 10) + Decimal("0.50")
        who = named[index % len(named)]
        if index % UNMATCHED_EVERY == UNMATCHED_EVERY - 1:
            narration = f"NEFT CR-SBIN0001234-UNKNOWN PAYER {index}"
        elif index % 2:
            narration = f"NEFT CR-HDFC0000123-CUSTOMER {index % len(named)}-{who['consumer_number']}"
        else:
            narration = f"UPI/{400000000000 + index}/BILL {who['invoice_number']}"
        reference = f"UTR{index:010d}"
        rows.append((day, amount, f"{narration} / {reference}"))
        out.append(f'{day:%d-%b-%Y},{day:%d/%m/%Y},{narration},{reference},,"{amount:,}",')
    return "\n".join(out) + "\n", rows


def baseline(rows: list[tuple]) -> float:
    """A bare bulk insert of the same lines as statement lines and payments; the rows are deleted after."""
    from django.db import transaction

    from billing.models import Account, BankStatementLine, Payment

    account_ids = list(Account.objects.values_list("pk", flat=True))
    began = time.perf_counter()
    with transaction.atomic():
        payments = Payment.objects.bulk_create(
            Payment(
                number=f"BASE-{index:07d}",
                account_id=account_ids[index % len(account_ids)],
                amount=amount,
                method=Payment.Method.BANK_TRANSFER,
                reference=narration[:120],
                received_on=day,
            )
            for index, (day, amount, narration) in enumerate(rows)
        )
        BankStatementLine.objects.bulk_create(
            (
                BankStatementLine(
                    import_batch="baseline",
                    line_number=index + 2,
                    received_on=day,
                    amount=amount,
                    narration=narration,
                    fingerprint=f"baseline-{index}",
                    status=BankStatementLine.Status.RECORDED,
                    payment=payment,
                )
                for index, ((day, amount, narration), payment) in enumerate(zip(rows, payments, strict=True))
            ),
            batch_size=1000,
        )
    seconds = time.perf_counter() - began
    with transaction.atomic():
        BankStatementLine.objects.filter(import_batch="baseline").delete()
        Payment.objects.filter(number__startswith="BASE-").delete()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL database URL (created fresh, dropped after).")
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="smartmeter-bench-payments-")
    try:
        if args.database_url:
            reset_postgres_database(args.database_url)
            database_url = args.database_url
        else:
            database_url = f"sqlite:///{workdir}/bench.sqlite3"
        configure(database_url, workdir)
        return run(args)
    finally:
        if args.database_url and not args.keep:
            from django.db import connections

            connections.close_all()
            drop_postgres_database(args.database_url)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept: {workdir}" + (f" and {args.database_url}" if args.database_url else ""))


def run(args) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum

    from billing.models import BankStatementLine, Invoice, LedgerEntry, Payment
    from billing.services.bank_import import bank_statement_import

    print(f"database: {connection.vendor}; accounts: {args.accounts:,}; lines: {args.lines:,}")
    call_command("migrate", verbosity=0, interactive=False)
    began = time.perf_counter()
    named = seed(args.accounts)
    print(f"seeded {args.accounts:,} accounts with an issued invoice each in {time.perf_counter() - began:.1f} s")
    text, rows = statement_csv(named, args.lines)
    data = text.encode()
    print(f"statement: {args.lines:,} lines, {len(data) / 1e6:.1f} MB")

    base_seconds = baseline(rows)

    statements = {"count": 0}

    def count(execute, sql, params, many, context):
        statements["count"] += 1
        return execute(sql, params, many, context)

    began = time.perf_counter()
    with connection.execute_wrapper(count):
        outcome = bank_statement_import(file=data, actor=None)
    seconds = time.perf_counter() - began
    began = time.perf_counter()
    again = bank_statement_import(file=data, actor=None)
    again_seconds = time.perf_counter() - began

    target = TARGET_SECONDS_PER_10K * args.lines / 10_000
    print()
    print(f"baseline (bulk insert only): {base_seconds:6.2f} s = {args.lines / base_seconds:8,.0f} lines/s")
    print(
        f"bank_statement_import:       {seconds:6.2f} s = {args.lines / seconds:8,.0f} lines/s;"
        f" {seconds / base_seconds:.1f} x the baseline; {statements['count']:,} SQL statements"
    )
    print(f"  recorded {outcome.recorded:,}, waiting {outcome.waiting:,}, rejected {len(outcome.rejected)}")
    print(
        f"same file again:             {again_seconds:6.2f} s; already imported {again.already_imported:,},"
        f" recorded {again.recorded}"
    )
    print(f"target: <= {target:.0f} s for {args.lines:,} lines")

    expected_waiting = args.lines // UNMATCHED_EVERY
    paid = Invoice.objects.filter(status=Invoice.Status.PAID).count()
    credits = -(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).aggregate(total=Sum("amount"))["total"] or 0)
    print(f"invoices paid: {paid:,} of {args.accounts:,}; payments {Payment.objects.count():,} worth {credits:,}")
    ok = True
    if outcome.recorded != args.lines - expected_waiting or outcome.waiting != expected_waiting:
        print("FAIL: not every named line was recorded")
        ok = False
    if again.recorded or again.already_imported != args.lines:
        print("FAIL: the second upload recorded something again")
        ok = False
    if BankStatementLine.objects.count() != args.lines or Payment.objects.count() != outcome.recorded:
        print("FAIL: row counts do not add up")
        ok = False
    if seconds > target:
        print("FAIL: the import took longer than the target")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
