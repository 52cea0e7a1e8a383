"""The ageing report and the disconnection list as CSV (what the admin pages show, for a spreadsheet)."""

from __future__ import annotations

import csv
import io

from billing.collections import AgeingReport, AgeingRow, DisconnectionCandidate
from billing.receivables import AGEING_BUCKETS
from billing.statement_csv import _cell as spreadsheet_cell


def ageing_csv(report: AgeingReport, rows: list[AgeingRow]) -> str:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(
        ["consumer_number", "customer", "email", *(f"open_{key}" for key, _ in AGEING_BUCKETS), "total", "oldest_due"]
    )
    for row in rows:
        writer.writerow(
            [
                row.consumer_number,
                spreadsheet_cell(row.customer_name),
                spreadsheet_cell(row.customer_email),
                *row.bucket_amounts,
                row.total,
                row.oldest_due_date.isoformat() if row.oldest_due_date else "",
            ]
        )
    writer.writerow(["total", "", "", *(report.totals[key] for key, _ in AGEING_BUCKETS), report.total, ""])
    return output.getvalue()


def disconnections_csv(candidates: list[DisconnectionCandidate]) -> str:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(
        ["consumer_number", "customer", "email", "amount_overdue", "oldest_due", "days_past_due", "noticed_at"]
    )
    for candidate in candidates:
        writer.writerow(
            [
                candidate.consumer_number,
                spreadsheet_cell(candidate.customer_name),
                spreadsheet_cell(candidate.customer_email),
                candidate.amount_overdue,
                candidate.oldest_due_date.isoformat(),
                candidate.days_past_due,
                candidate.noticed_at.isoformat() if candidate.noticed_at else "",
            ]
        )
    return output.getvalue()
