"""Reads for collections: every account's open charges by age (one query whatever the number of accounts),
the charges a late-payment surcharge is worked out on, and the accounts due a disconnection notice.
Rules: docs/billing.md#collections."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum

from billing.late_fee import OverdueCharge, coverage_from_details
from billing.models import Account, DisconnectionNotice, LedgerEntry, Note
from billing.receivables import AGEING_BUCKETS, account_open_charges
from billing.selectors import billing_today
from billing.zone import billing_zone

ZERO = Decimal("0.00")
CHARGE_KINDS = (LedgerEntry.Kind.INVOICE, LedgerEntry.Kind.DEBIT_NOTE)
BUCKET_KEYS = tuple(key for key, _ in AGEING_BUCKETS)


def charge_due_date(*, kind: str, posted_on: date, invoice_due_date: date | None) -> date:
    """An invoice is due on its due date; a debit note INVOICE_DUE_DAYS after the day it was posted."""
    if kind == LedgerEntry.Kind.INVOICE and invoice_due_date is not None:
        return invoice_due_date
    return posted_on + timedelta(days=settings.INVOICE_DUE_DAYS)


def ageing_bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1_30"
    if days_past_due <= 60:
        return "31_60"
    if days_past_due <= 90:
        return "61_90"
    return "90_plus"


def _empty_buckets() -> dict[str, Decimal]:
    return dict.fromkeys(BUCKET_KEYS, ZERO)


@dataclass
class AgeingRow:
    """One account's open charges by age on the report's day."""

    account_id: int
    consumer_number: str
    customer_name: str
    customer_email: str
    buckets: dict[str, Decimal] = field(default_factory=_empty_buckets)
    total: Decimal = ZERO
    oldest_due_date: date | None = None
    charges: int = 0

    @property
    def overdue(self) -> Decimal:
        """Everything open past its due date (all buckets but current)."""
        return self.total - self.buckets["current"]

    @property
    def bucket_amounts(self) -> list[Decimal]:
        return [self.buckets[key] for key in BUCKET_KEYS]


@dataclass(frozen=True)
class AgeingReport:
    as_of: date
    rows: list[AgeingRow]
    totals: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @property
    def bucket_totals(self) -> list[tuple[str, str, Decimal]]:
        """(key, label, amount) for each bucket, in order."""
        return [(key, label, self.totals[key]) for key, label in AGEING_BUCKETS]


def _open_charge_rows(*, as_of: date, account_ids=None):
    """Every charge posted by ``as_of`` with what was settled of it by then, open ones only, in one query."""
    next_day = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=billing_zone())
    counted = Q(allocations_received__credit__posted_on__lte=as_of) & (
        Q(allocations_received__released_at=None) | Q(allocations_received__released_at__gte=next_day)
    )
    charges = LedgerEntry.objects.filter(kind__in=CHARGE_KINDS, posted_on__lte=as_of)
    if account_ids is not None:
        charges = charges.filter(account_id__in=account_ids)
    rows = (
        charges.values(
            "pk",
            "account_id",
            "account__consumer_number",
            "account__customer__name",
            "account__customer__email",
            "kind",
            "amount",
            "posted_on",
            "document_number",
            "invoice__due_date",
        )
        .annotate(settled=Sum("allocations_received__amount", filter=counted))
        .order_by("account_id", "posted_on", "pk")
    )
    for row in rows:
        row["open_amount"] = row["amount"] - (row["settled"] or ZERO)
        if row["open_amount"] > ZERO:
            row["due_date"] = charge_due_date(
                kind=row["kind"], posted_on=row["posted_on"], invoice_due_date=row["invoice__due_date"]
            )
            yield row


def ageing_report(*, as_of: date | None = None) -> AgeingReport:
    """Every account with something open on ``as_of`` (default today), its open amounts by days past the
    due date (current, 1-30, 31-60, 61-90, over 90), and the totals per bucket."""
    as_of = as_of or billing_today()
    accounts: dict[int, AgeingRow] = {}
    totals = _empty_buckets()
    for charge in _open_charge_rows(as_of=as_of):
        row = accounts.get(charge["account_id"])
        if row is None:
            row = accounts[charge["account_id"]] = AgeingRow(
                account_id=charge["account_id"],
                consumer_number=charge["account__consumer_number"],
                customer_name=charge["account__customer__name"] or "",
                customer_email=charge["account__customer__email"] or "",
            )
        bucket = ageing_bucket((as_of - charge["due_date"]).days)
        row.buckets[bucket] += charge["open_amount"]
        row.total += charge["open_amount"]
        row.charges += 1
        if row.oldest_due_date is None or charge["due_date"] < row.oldest_due_date:
            row.oldest_due_date = charge["due_date"]
        totals[bucket] += charge["open_amount"]
    return AgeingReport(as_of=as_of, rows=list(accounts.values()), totals=totals)


AGEING_SORTS = {
    "oldest": lambda row: (row.oldest_due_date, -row.total, row.consumer_number),
    "amount": lambda row: (-row.total, row.oldest_due_date, row.consumer_number),
    "overdue": lambda row: (-row.overdue, row.oldest_due_date, row.consumer_number),
    "consumer": lambda row: row.consumer_number,
}


def ageing_rows_sorted(report: AgeingReport, *, sort: str) -> list[AgeingRow]:
    """The report's rows oldest due date first (``oldest``), largest first (``amount``, ``overdue``) or by
    consumer number; an unknown key sorts by the oldest due date."""
    return sorted(report.rows, key=AGEING_SORTS.get(sort, AGEING_SORTS["oldest"]))


# --- Late-payment surcharge ------------------------------------------------------


def account_surcharge_base(*, account: Account) -> list[OverdueCharge]:
    """The account's open charges that attract a surcharge (not surcharges themselves), each with the day up
    to which earlier surcharges covered it. Read with the account locked."""
    charges = [
        charge
        for charge in account_open_charges(account=account)
        if not (charge.kind == LedgerEntry.Kind.DEBIT_NOTE and charge.note.reason == Note.Reason.LATE_PAYMENT)
    ]
    if not charges:
        return []
    covered = coverage_from_details(
        Note.objects.filter(account=account, reason=Note.Reason.LATE_PAYMENT).values_list("detail", flat=True)
    )
    return [
        OverdueCharge(
            document=charge.document_number,
            open_amount=charge.open_amount,
            due_date=charge_due_date(
                kind=charge.kind,
                posted_on=charge.posted_on,
                invoice_due_date=charge.invoice.due_date if charge.invoice_id else None,
            ),
            covered_until=covered.get(charge.document_number),
        )
        for charge in charges
    ]


# --- Disconnection notices -------------------------------------------------------


@dataclass(frozen=True)
class DisconnectionCandidate:
    """An account with a charge open more than DISCONNECTION_NOTICE_DAYS past due."""

    account_id: int
    consumer_number: str
    customer_name: str
    customer_email: str
    amount_overdue: Decimal
    oldest_due_date: date
    days_past_due: int
    noticed_at: datetime | None  # a notice issued within the notice period: not noticed again

    @property
    def can_notice(self) -> bool:
        return self.noticed_at is None


def notice_period_start(*, today: date) -> datetime:
    """Notices issued from this instant on are still running (their notice period has not ended)."""
    first_day = today - timedelta(days=settings.DISCONNECTION_NOTICE_PERIOD_DAYS)
    return datetime.combine(first_day, time.min, tzinfo=billing_zone())


def _overdue_summary(charges) -> tuple[Decimal, date | None]:
    amount, oldest = ZERO, None
    for charge in charges:
        amount += charge["open_amount"]
        oldest = charge["due_date"] if oldest is None else min(oldest, charge["due_date"])
    return amount, oldest


def disconnection_candidates(*, today: date | None = None, account_ids=None) -> list[DisconnectionCandidate]:
    """Accounts with any charge open more than DISCONNECTION_NOTICE_DAYS past due, oldest due date first, with
    what is overdue (every charge past its due date) and any notice still running."""
    today = today or billing_today()
    threshold = settings.DISCONNECTION_NOTICE_DAYS
    overdue: dict[int, list[dict]] = {}
    for charge in _open_charge_rows(as_of=today, account_ids=account_ids):
        if charge["due_date"] < today:
            overdue.setdefault(charge["account_id"], []).append(charge)
    eligible = {
        account_id: charges
        for account_id, charges in overdue.items()
        if max((today - charge["due_date"]).days for charge in charges) > threshold
    }
    running: dict[int, datetime] = {}
    for account_id, issued_at in DisconnectionNotice.objects.filter(
        account_id__in=list(eligible), issued_at__gte=notice_period_start(today=today)
    ).values_list("account_id", "issued_at"):
        running[account_id] = max(issued_at, running.get(account_id, issued_at))
    candidates = []
    for account_id, charges in eligible.items():
        amount, oldest = _overdue_summary(charges)
        first = charges[0]
        candidates.append(
            DisconnectionCandidate(
                account_id=account_id,
                consumer_number=first["account__consumer_number"],
                customer_name=first["account__customer__name"] or "",
                customer_email=first["account__customer__email"] or "",
                amount_overdue=amount,
                oldest_due_date=oldest,
                days_past_due=(today - oldest).days,
                noticed_at=running.get(account_id),
            )
        )
    return sorted(candidates, key=lambda candidate: (candidate.oldest_due_date, candidate.consumer_number))
