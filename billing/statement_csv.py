"""An account statement as CSV (a spreadsheet's view of the same lines the PDF prints)."""

from __future__ import annotations

import csv
import io

from billing.receivables import Statement

HEADER = ["date", "kind", "document", "description", "charge", "credit", "balance"]


def _cell(text: str) -> str:
    """Keep a spreadsheet from running text as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_csv(statement: Statement) -> str:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(HEADER)
    opening_day = statement.start.isoformat() if statement.start else ""
    writer.writerow([opening_day, "opening_balance", "", "Balance brought forward", "", "", statement.opening_balance])
    for line in statement.lines:
        entry = line.entry
        writer.writerow(
            [
                entry.posted_on.isoformat(),
                entry.kind,
                entry.document_number,
                _cell(entry.description),
                "" if line.debit is None else line.debit,
                "" if line.credit is None else line.credit,
                line.balance,
            ]
        )
    return output.getvalue()
