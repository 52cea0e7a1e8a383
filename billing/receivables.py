"""Reads over the receivables ledger: balances, open amounts, statements with running balances, ageing.
Rules: docs/billing.md#receivables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, Sum

from accounts.models import User
from billing.models import Account, Allocation, Invoice, LedgerEntry, Payment
from billing.numbering import is_consumer_number

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def money(value) -> Decimal:
    """A database sum as rupees and paise (SQLite sums decimals in floating point; None is nothing)."""
    return ZERO if value is None else Decimal(value).quantize(CENT)


def money_sum(queryset, field: str = "amount") -> Decimal:
    return money(queryset.aggregate(total=Sum(field))["total"])


AGEING_BUCKETS = (
    ("current", "Current"),
    ("1_30", "1–30 days"),
    ("31_60", "31–60 days"),
    ("61_90", "61–90 days"),
    ("90_plus", "Over 90 days"),
)


def account_balance(*, account: Account, as_of: date | None = None) -> Decimal:
    """What the customer owes (negative: credit in hand): the sum of the ledger, up to ``as_of`` inclusive."""
    entries = account.entries.all() if as_of is None else account.entries.filter(posted_on__lte=as_of)
    return money_sum(entries)


def balance_through(*, entry: LedgerEntry) -> Decimal:
    """The account balance just after ``entry`` was posted (entries count in the order they were posted)."""
    return money_sum(LedgerEntry.objects.filter(account_id=entry.account_id, pk__lte=entry.pk))


def invoice_open_amount(*, invoice: Invoice) -> Decimal:
    """What is still to pay on an issued invoice (its total less what credits settled of it)."""
    entry = LedgerEntry.objects.filter(invoice=invoice, kind=LedgerEntry.Kind.INVOICE).first()
    if entry is None:
        return ZERO
    return entry_open_amount(entry=entry)


def entry_open_amount(*, entry: LedgerEntry) -> Decimal:
    return entry.amount - money_sum(Allocation.objects.filter(charge=entry, released_at__isnull=True))


CHARGE_KINDS = (LedgerEntry.Kind.INVOICE, LedgerEntry.Kind.DEBIT_NOTE)


def charges_with_open_amounts(entries: QuerySet[LedgerEntry]) -> list[LedgerEntry]:
    """The invoices and debit notes among ``entries``, oldest first, each with ``open_amount`` set (its
    amount less what live allocations settled of it), in one query."""
    charges = (
        entries.filter(kind__in=CHARGE_KINDS)
        .annotate(settled=Sum("allocations_received__amount", filter=Q(allocations_received__released_at=None)))
        .order_by("posted_on", "pk")
    )
    for charge in charges:
        charge.open_amount = charge.amount - money(charge.settled)
    return list(charges)


def account_open_charges(*, account: Account) -> list[LedgerEntry]:
    """Invoices and debit notes not yet fully settled, oldest first, each with ``open_amount`` set."""
    charges = charges_with_open_amounts(account.entries.select_related("invoice", "note"))
    return [charge for charge in charges if charge.open_amount > ZERO]


@dataclass(frozen=True)
class StatementLine:
    entry: LedgerEntry
    debit: Decimal | None
    credit: Decimal | None
    balance: Decimal


@dataclass(frozen=True)
class Statement:
    account: Account
    start: date | None
    end: date | None
    opening_balance: Decimal
    lines: tuple[StatementLine, ...]
    closing_balance: Decimal

    @property
    def total_debits(self) -> Decimal:
        return sum((line.debit or ZERO for line in self.lines), ZERO)

    @property
    def total_credits(self) -> Decimal:
        return sum((line.credit or ZERO for line in self.lines), ZERO)


def account_statement(*, account: Account, start: date | None = None, end: date | None = None) -> Statement:
    """The account's entries posted from ``start`` to ``end`` (inclusive; None: open-ended), with the
    balance brought forward and a running balance after each entry."""
    opening = ZERO
    entries = account.entries.all()
    if start is not None:
        opening = money_sum(account.entries.filter(posted_on__lt=start))
        entries = entries.filter(posted_on__gte=start)
    if end is not None:
        entries = entries.filter(posted_on__lte=end)
    running = opening
    lines = []
    for entry in entries.order_by("posted_on", "pk"):
        running += entry.amount
        lines.append(
            StatementLine(
                entry=entry,
                debit=entry.amount if entry.amount > 0 else None,
                credit=-entry.amount if entry.amount < 0 else None,
                balance=running,
            )
        )
    return Statement(
        account=account, start=start, end=end, opening_balance=opening, lines=tuple(lines), closing_balance=running
    )


def account_by_consumer_number(*, consumer_number: str) -> Account | None:
    """The account with this consumer number; None for a number that is malformed or belongs to no account."""
    if not is_consumer_number(consumer_number):
        return None
    return Account.objects.select_related("customer").filter(consumer_number=consumer_number).first()


def payments_with_allocations() -> QuerySet[Payment]:
    """Payments with their account and what each settled (``payment_allocations`` reads it without queries)."""
    allocations = Allocation.objects.select_related("charge").order_by("charge__posted_on", "charge__pk", "pk")
    credit_entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).prefetch_related(
        Prefetch("allocations_made", queryset=allocations)
    )
    return Payment.objects.select_related("account__customer").prefetch_related(
        Prefetch("entries", queryset=credit_entries, to_attr="credit_entries")
    )


def payment_allocations(*, payment: Payment) -> list[Allocation]:
    """What the payment settled, oldest charge first; released ones (the payment was reversed) included."""
    entries = getattr(payment, "credit_entries", None)
    if entries is None:
        entries = payments_with_allocations().get(pk=payment.pk).credit_entries
    return [allocation for entry in entries for allocation in entry.allocations_made.all()]


def payment_unapplied(*, payment: Payment) -> Decimal:
    """What of the payment settles nothing yet (credit for the next bill); zero once it is reversed."""
    if payment.is_reversed:
        return ZERO
    live = (allocation.amount for allocation in payment_allocations(payment=payment) if allocation.released_at is None)
    return payment.amount - sum(live, ZERO)


def payment_list(*, consumer_number: str | None = None) -> QuerySet[Payment]:
    """Payments, newest first, optionally of one account."""
    payments = payments_with_allocations().order_by("-received_on", "-number")
    if consumer_number is not None:
        payments = payments.filter(account__consumer_number=consumer_number)
    return payments


def payment_get_visible(*, user: User, number: str) -> Payment | None:
    """The payment if the user may see it (staff, or the customer who paid); None otherwise, as if absent."""
    if not user.is_authenticated:
        return None
    payments = payments_with_allocations()
    if not user.is_staff:
        payments = payments.filter(account__customer=user)
    return payments.filter(number=number).first()
