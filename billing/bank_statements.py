"""Reading a bank statement export (CSV): its columns, dates, amounts and the numbers in its narrations.

Pure: no ORM. The import service (billing.services.bank_import) decides what each line becomes.
Rules: docs/billing.md#bank-statement-import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing.numbering import CONSUMER_NUMBER_RE, DOCUMENT_NUMBER_RE, is_consumer_number

# Header names, compared lower-case with punctuation and "(INR)" dropped. The first listed that is present wins.
DATE_HEADERS = ("value date", "value dt", "transaction date", "txn date", "tran date", "date", "posting date")
CREDIT_HEADERS = ("credit", "deposit", "credit amount", "deposit amount", "deposit amt", "credit amt", "deposits")
AMOUNT_HEADERS = ("amount", "transaction amount", "txn amount")
NARRATION_HEADERS = ("narration", "description", "remarks", "transaction remarks", "particulars", "details")
REFERENCE_HEADERS = ("reference", "reference no", "ref no", "chq ref no", "ref no cheque no", "utr", "utr no")
HEADER_SEARCH_ROWS = 20  # statements often open with a few lines about the account before the header row

# Invoice numbers before the yearly series (INV-yyyymm-nnnnnn); existing invoices keep them.
OLD_INVOICE_NUMBER_RE = re.compile(r"\bINV-(\d{6})-(\d{6})\b")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d-%b-%Y", "%d %b %Y", "%d/%m/%y", "%d-%m-%y", "%d-%b-%y")
AMOUNT_RE = re.compile(r"\d+(\.\d+)?")
CURRENCY_RE = re.compile(r"₹|\bINR\b|\bRs\.?(?=\s|\d|$)", re.IGNORECASE)
MAX_AMOUNT = Decimal("9999999999.99")
NARRATION_JOIN = " / "


class StatementUnreadable(Exception):
    """The file as a whole cannot be read as a statement; the message says why."""


class LineProblem(Exception):
    """One line's date or amount cannot be used; the message says why."""


@dataclass(frozen=True)
class Columns:
    """Where the statement keeps each field (indexes into a row)."""

    date: int
    amount: int
    credit_only: bool  # a credit/deposit column: a blank cell is a debit line, not an error
    narration: tuple[int, ...]


@dataclass(frozen=True)
class StatementRow:
    """A data row: its line number in the file and its cells, or the reason it cannot be used."""

    line_number: int
    received_on: date | None
    amount: Decimal | None
    narration: str
    problem: str = ""  # set: the line is unusable (bad date or amount)
    debit: bool = False  # a withdrawal: not ours to record


@dataclass(frozen=True)
class Mentions:
    """The numbers a narration names."""

    invoice_numbers: tuple[str, ...]
    consumer_numbers: tuple[str, ...]


def _header_key(cell: str) -> str:
    cell = re.sub(r"\(.*?\)", " ", cell.lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", cell).split())


def find_columns(header: list[str]) -> Columns | None:
    keys = [_header_key(cell) for cell in header]

    def first(names: tuple[str, ...]) -> int | None:
        for name in names:
            if name in keys:
                return keys.index(name)
        return None

    date_column = first(DATE_HEADERS)
    credit_column = first(CREDIT_HEADERS)
    amount_column = credit_column if credit_column is not None else first(AMOUNT_HEADERS)
    narration = tuple(index for index, key in enumerate(keys) if key in NARRATION_HEADERS or key in REFERENCE_HEADERS)
    if date_column is None or amount_column is None or not narration:
        return None
    return Columns(date=date_column, amount=amount_column, credit_only=credit_column is not None, narration=narration)


def parse_date(text: str) -> date:
    text = text.strip()
    candidates = [text]
    if " " in text:  # "05/11/2026 10:32:00" from some exports
        candidates.append(text.split()[0])
    if "T" in text:
        candidates.append(text.split("T")[0])
    for candidate in candidates:
        for pattern in DATE_FORMATS:
            try:
                return datetime.strptime(candidate, pattern).date()  # noqa: DTZ007 - a calendar day, no time
            except ValueError:
                continue
    raise LineProblem(f"date {text!r} is not a date (use 2026-11-05, 05/11/2026, 05-11-2026 or 05-Nov-2026)")


def parse_amount(text: str, *, signed: bool = False) -> tuple[Decimal, bool]:
    """(amount, is_debit). Commas, ₹/INR/Rs and a trailing Cr/Dr are allowed. A debit (Dr, in brackets, or
    below zero in a signed amount column) is a withdrawal, not ours to record."""
    raw = text.strip()
    cleaned = CURRENCY_RE.sub("", raw).replace(",", "").replace(" ", "")
    debit = False
    if cleaned[-2:].upper() in ("CR", "DR"):
        debit = cleaned[-2:].upper() == "DR"
        cleaned = cleaned[:-2]
    if cleaned.startswith("(") and cleaned.endswith(")"):
        debit, cleaned = True, cleaned[1:-1]
    negative = cleaned.startswith("-")
    if cleaned[:1] in ("+", "-"):
        cleaned = cleaned[1:]
    if not AMOUNT_RE.fullmatch(cleaned):
        raise LineProblem(f"amount {raw!r} is not a number of rupees")
    amount = Decimal(cleaned)
    if amount != amount.quantize(Decimal("0.01")):
        raise LineProblem(f"amount {raw!r} has more than two decimal places")
    if amount > 0 and (debit or (negative and signed)):
        return amount.quantize(Decimal("0.01")), True
    if amount == 0 or negative:
        raise LineProblem(f"amount {raw!r} is not more than zero")
    if amount > MAX_AMOUNT:
        raise LineProblem(f"amount {raw!r} is too large")
    return amount.quantize(Decimal("0.01")), False


def read_statement(text: str, *, max_rows: int) -> list[StatementRow]:
    """The statement's data rows (blank rows left out), after its header row."""
    sample = text[:4096]
    first_line = sample.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = "\t" if "\t" in first_line else ";" if ";" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = None
    try:
        for _ in range(HEADER_SEARCH_ROWS):
            header = next(reader, None)
            if header is None:
                break
            columns = find_columns(header)
            if columns is not None:
                break
        if columns is None:
            raise StatementUnreadable(
                "No header row with a date column (Date, Value Date, Txn Date, Transaction Date), an amount column "
                "(Amount, Credit, Deposit) and a narration column (Narration, Description, Reference, Remarks, "
                "Particulars) in the first lines of the file."
            )
        rows: list[StatementRow] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == max_rows:
                raise StatementUnreadable(f"The file has more than {max_rows:,} lines; split it and upload each part.")
            rows.append(_row(reader.line_num, cells, columns))
    except csv.Error as exc:
        raise StatementUnreadable(f"The file is not a readable CSV (line {reader.line_num}: {exc}).") from None
    return rows


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _row(line_number: int, cells: list[str], columns: Columns) -> StatementRow:
    narration = NARRATION_JOIN.join(part for part in (_cell(cells, index) for index in columns.narration) if part)
    amount_text = _cell(cells, columns.amount)
    if columns.credit_only and not amount_text:
        return StatementRow(line_number, None, None, narration, debit=True)
    amount, amount_problem = None, ""
    try:
        amount, debit = parse_amount(amount_text, signed=not columns.credit_only)
    except LineProblem as exc:
        amount_problem = str(exc)
    else:
        if debit:
            return StatementRow(line_number, None, amount, narration, debit=True)
    try:
        received_on = parse_date(_cell(cells, columns.date))
    except LineProblem as exc:
        return StatementRow(line_number, None, amount, narration, problem=str(exc))
    return StatementRow(line_number, received_on, amount, narration, problem=amount_problem)


def narration_key(narration: str) -> str:
    return " ".join(narration.upper().split())


def fingerprints(rows: list[tuple[date, Decimal, str]]) -> list[str]:
    """One fingerprint per (day, amount, narration), the n-th repeat of a line within the file made distinct:
    the same file uploaded twice gives the same fingerprints, two equal payments on one day stay two."""
    seen: Counter = Counter()
    result = []
    for day, amount, narration in rows:
        key = (day.isoformat(), f"{amount:.2f}", narration_key(narration))
        occurrence = seen[key]
        seen[key] += 1
        result.append(hashlib.sha256("\x1f".join([*key, str(occurrence)]).encode()).hexdigest())
    return result


def mentions(narration: str) -> Mentions:
    """Invoice numbers (the yearly series and the older monthly one) and valid consumer numbers named."""
    text = narration.upper()
    invoices = [match.group(0) for match in DOCUMENT_NUMBER_RE.finditer(text) if match.group(1) == "INV"]
    invoices += [match.group(0) for match in OLD_INVOICE_NUMBER_RE.finditer(text)]
    consumers = [number for number in CONSUMER_NUMBER_RE.findall(text) if is_consumer_number(number)]
    return Mentions(tuple(dict.fromkeys(invoices)), tuple(dict.fromkeys(consumers)))
