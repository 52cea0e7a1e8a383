"""Bank statement import: each credit line matched to an account by the invoice or consumer number in its
narration and recorded as a payment; the rest wait for staff to match or ignore them.
Rules: docs/billing.md#bank-statement-import.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from billing.bank_statements import StatementRow, StatementUnreadable, fingerprints, mentions, read_statement
from billing.models import Account, BankStatementLine, Invoice, Payment
from billing.selectors import billing_today
from billing.services.payments import PaymentReceived, payment_record, payments_record
from billing.zone import billing_zone
from ops.audit import audit_log

CHUNK = 500
ZERO = Decimal("0.00")


class BankImportRefused(Exception):
    """The file cannot be imported at all (nothing was written); the message says why."""


class BankLineRefused(Exception):
    """A statement line cannot be matched or ignored; the message says why."""


@dataclass(frozen=True)
class RejectedLine:
    line_number: int
    reason: str


@dataclass
class ImportOutcome:
    """What an upload did. ``payments`` are the receipts it recorded, in line order."""

    batch: str
    recorded: int = 0
    waiting: int = 0
    already_imported: int = 0
    debits_skipped: int = 0
    amount_recorded: Decimal = ZERO
    rejected: list[RejectedLine] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)


def bank_statement_import(*, file: bytes | str | IO, actor: User | None) -> ImportOutcome:
    """Import a bank statement CSV: every credit line is kept once (a re-upload adds nothing), matched lines
    are recorded as bank-transfer payments, the others wait for staff. A file that cannot be read is
    refused whole (BankImportRefused); a line without a usable date or amount is reported, not kept."""
    text = _text(file)
    try:
        rows = read_statement(text, max_rows=settings.BANK_IMPORT_MAX_ROWS)
    except StatementUnreadable as exc:
        raise BankImportRefused(str(exc)) from None
    batch = f"{timezone.now().astimezone(billing_zone()):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    outcome = ImportOutcome(batch=batch)
    usable: list[StatementRow] = []
    for row in rows:
        if row.debit:
            outcome.debits_skipped += 1
        elif row.received_on is None or row.amount is None:
            outcome.rejected.append(RejectedLine(row.line_number, row.problem))
        else:
            usable.append(row)
    prints = fingerprints([(row.received_on, row.amount, row.narration) for row in usable])
    try:
        with transaction.atomic():
            _import(usable, prints, outcome, actor)
    except IntegrityError:
        if not _imported_already(prints):
            raise
        raise BankImportRefused(  # a concurrent upload of the same lines committed first
            "Some of these lines were imported by another upload at the same moment; upload the file again "
            "to import what is left."
        ) from None
    return outcome


def _imported_already(prints: list[str]) -> set[str]:
    existing: set[str] = set()
    for start in range(0, len(prints), CHUNK):
        chunk = prints[start : start + CHUNK]
        existing.update(BankStatementLine.objects.filter(fingerprint__in=chunk).values_list("fingerprint", flat=True))
    return existing


def _text(file: bytes | str | IO) -> str:
    limit = settings.BANK_IMPORT_MAX_BYTES
    data = file if isinstance(file, (bytes, bytearray, str)) else file.read(limit + 1)
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limit:
        raise BankImportRefused(f"The file is larger than {limit / 1_000_000:g} MB; split it and upload each part.")
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BankImportRefused(
            f"The file is not UTF-8 text (byte {exc.start + 1}); export the statement as CSV in UTF-8."
        ) from None


def _import(rows: list[StatementRow], prints: list[str], outcome: ImportOutcome, actor: User | None) -> None:
    existing = _imported_already(prints)
    new = [(row, fingerprint) for row, fingerprint in zip(rows, prints, strict=True) if fingerprint not in existing]
    outcome.already_imported = len(rows) - len(new)
    matches = _accounts_named([row for row, _ in new])
    received: list[PaymentReceived] = []
    lines: list[BankStatementLine] = []
    for row, fingerprint in new:
        account, problem = matches[row.line_number]
        line = BankStatementLine(
            import_batch=outcome.batch,
            line_number=row.line_number,
            received_on=row.received_on,
            amount=row.amount,
            narration=row.narration[:500],
            fingerprint=fingerprint,
            problem=problem[:200],
            imported_by=actor,
        )
        lines.append(line)
        if account is not None:
            line.status = BankStatementLine.Status.RECORDED
            received.append(
                PaymentReceived(
                    account=account,
                    amount=row.amount,
                    method=Payment.Method.BANK_TRANSFER,
                    received_on=row.received_on,
                    reference=row.narration[:120],
                )
            )
    payments = iter(payments_record(received=received, actor=actor))
    for line in lines:
        if line.status == BankStatementLine.Status.RECORDED:
            line.payment = next(payments)
            outcome.payments.append(line.payment)
            outcome.amount_recorded += line.amount
    BankStatementLine.objects.bulk_create(lines, batch_size=1000)
    outcome.recorded = len(received)
    outcome.waiting = len(lines) - len(received)
    audit_log(
        actor=actor,
        action="bank_statement.import",
        batch=outcome.batch,
        recorded=outcome.recorded,
        waiting=outcome.waiting,
        already_imported=outcome.already_imported,
        rejected=len(outcome.rejected),
        amount_recorded=str(outcome.amount_recorded),
    )


def _accounts_named(rows: list[StatementRow]) -> dict[int, tuple[Account | None, str]]:
    """For each line (by line number): the one account its narration names, or None and why not.

    Invoice numbers (the yearly series or the older monthly one) of issued invoices and valid consumer
    numbers of existing accounts are looked up in bulk. Two different accounts named is not a match.
    """
    named = {row.line_number: mentions(row.narration) for row in rows}
    invoice_numbers = sorted({number for found in named.values() for number in found.invoice_numbers})
    consumer_numbers = sorted({number for found in named.values() for number in found.consumer_numbers})
    by_invoice: dict[str, Account] = {}
    by_consumer: dict[str, Account] = {}
    for start in range(0, len(invoice_numbers), CHUNK):
        invoices = (
            Invoice.objects.filter(number__in=invoice_numbers[start : start + CHUNK], account__isnull=False)
            .exclude(status=Invoice.Status.HELD)
            .select_related("account")
            .only("number", "account")
        )
        by_invoice.update((invoice.number, invoice.account) for invoice in invoices)
    for start in range(0, len(consumer_numbers), CHUNK):
        accounts = Account.objects.filter(consumer_number__in=consumer_numbers[start : start + CHUNK])
        by_consumer.update((account.consumer_number, account) for account in accounts)
    today = billing_today()
    result: dict[int, tuple[Account | None, str]] = {}
    for row in rows:
        found = named[row.line_number]
        accounts: dict[int, Account] = {}
        for number in found.invoice_numbers:
            if number in by_invoice:
                accounts.setdefault(by_invoice[number].pk, by_invoice[number])
        for number in found.consumer_numbers:
            if number in by_consumer:
                accounts.setdefault(by_consumer[number].pk, by_consumer[number])
        unknown = [number for number in found.invoice_numbers if number not in by_invoice]
        unknown += [number for number in found.consumer_numbers if number not in by_consumer]
        if row.received_on > today:
            result[row.line_number] = (None, f"Dated {row.received_on:%d-%m-%Y}, after today: check the statement.")
        elif len(accounts) == 1:
            result[row.line_number] = (next(iter(accounts.values())), "")
        elif accounts:
            numbers = ", ".join(sorted(account.consumer_number for account in accounts.values()))
            result[row.line_number] = (None, f"Names more than one account ({numbers}).")
        elif unknown:
            result[row.line_number] = (None, f"No issued invoice or account for {', '.join(unknown)}.")
        else:
            result[row.line_number] = (None, "No invoice or consumer number in the narration.")
    return result


def _unmatched_line(line: BankStatementLine) -> BankStatementLine:
    line = BankStatementLine.objects.select_for_update().get(pk=line.pk)
    if line.status != BankStatementLine.Status.UNMATCHED:
        raise BankLineRefused(f"Line {line.line_number} of upload {line.import_batch} is already {line.status}.")
    return line


@transaction.atomic
def bank_line_match(*, line: BankStatementLine, account: Account, actor: User | None) -> Payment:
    """Record a waiting line as a bank-transfer payment to ``account`` (staff chose it)."""
    line = _unmatched_line(line)
    payment = payment_record(
        account=account,
        amount=line.amount,
        method=Payment.Method.BANK_TRANSFER,
        received_on=line.received_on,
        reference=line.narration[:120],
        actor=actor,
    )
    line.payment = payment
    line.status = BankStatementLine.Status.RECORDED
    line.problem = ""
    line.save(update_fields=["payment", "status", "problem"])
    audit_log(
        actor=actor,
        action="bank_line.match",
        batch=line.import_batch,
        line_number=line.line_number,
        receipt=payment.number,
        consumer_number=account.consumer_number,
    )
    return payment


@transaction.atomic
def bank_line_ignore(*, line: BankStatementLine, reason: str, actor: User | None) -> BankStatementLine:
    """Set a waiting line aside (not a customer's payment: a refund, interest, a transfer of our own)."""
    reason = reason.strip()
    if not reason:
        raise BankLineRefused("Say why the line is ignored.")
    line = _unmatched_line(line)
    line.status = BankStatementLine.Status.IGNORED
    line.problem = f"Ignored: {reason}"[:200]
    line.save(update_fields=["status", "problem"])
    audit_log(
        actor=actor, action="bank_line.ignore", batch=line.import_batch, line_number=line.line_number, reason=reason
    )
    return line
