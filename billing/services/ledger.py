"""The receivables ledger: accounts, document numbers, postings and the allocation of credits to charges.

Every write here runs inside the caller's transaction and starts by locking the account row,
so postings and allocations for one account happen one at a time whatever runs concurrently.
Rules: docs/billing.md#receivables.
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from accounts.models import User
from billing.models import Account, Allocation, DocumentSequence, Invoice, LedgerEntry, Note, Payment
from billing.numbering import consumer_number, document_number, financial_year
from billing.receivables import charges_with_open_amounts, money, money_sum
from billing.selectors import billing_today
from billing.zone import billing_zone

ZERO = Decimal("0.00")
CHUNK = 500  # ids per IN (...) list: well inside every backend's parameter limit


def account_for_customer(*, customer: User) -> Account:
    """The customer's account, opened on first use (its consumer number follows from the customer's key)."""
    account = Account.objects.filter(customer=customer).first()
    if account is not None:
        return account
    Account.objects.bulk_create(
        [Account(customer=customer, consumer_number=consumer_number(customer.pk))], ignore_conflicts=True
    )
    return Account.objects.get(customer=customer)


def account_lock(*, account: Account) -> Account:
    """Lock the account row for the rest of the transaction; every ledger write starts here."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Ledger writes must run inside a transaction.")
    return Account.objects.select_for_update().get(pk=account.pk)


def accounts_lock(*, account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock many account rows (in key order, so two batches never wait on each other crosswise)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Ledger writes must run inside a transaction.")
    locked: dict[int, Account] = {}
    for chunk in _chunks(sorted(set(account_ids))):
        locked.update((account.pk, account) for account in Account.objects.select_for_update().filter(pk__in=chunk))
    return locked


def _chunks(items: Sequence) -> Iterable[Sequence]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def document_number_take(*, series: str, on: date) -> str:
    """The next number in a series for the financial year of ``on``, taken inside the caller's transaction.

    The sequence row stays locked until that transaction ends: a concurrent issuer waits, and a
    rollback gives the number back, so the series has no gaps and no repeats.
    """
    return document_numbers_take(series=series, on=on, count=1)[0]


def document_numbers_take(*, series: str, on: date, count: int) -> list[str]:
    """The next ``count`` numbers of a series for the financial year of ``on``, contiguous, taken as
    document_number_take takes one (inside the caller's transaction, the sequence row locked)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Document numbers must be taken inside the issuing transaction.")
    if count < 1:
        raise ValueError("Take at least one document number.")
    year = financial_year(on)
    DocumentSequence.objects.bulk_create([DocumentSequence(series=series, financial_year=year)], ignore_conflicts=True)
    sequence = DocumentSequence.objects.select_for_update().get(series=series, financial_year=year)
    first = sequence.last_number + 1
    sequence.last_number += count
    sequence.save(update_fields=["last_number"])
    return [document_number(series, year, number) for number in range(first, first + count)]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(billing_zone()).date()


def ledger_post(
    *,
    account: Account,
    kind: str,
    amount: Decimal,
    posted_on: date,
    document_number: str,
    description: str = "",
    invoice: Invoice | None = None,
    payment: Payment | None = None,
    note: Note | None = None,
) -> LedgerEntry:
    """Add one entry (the account must be locked by the caller's transaction)."""
    entry = LedgerEntry(
        account=account,
        kind=kind,
        amount=amount,
        posted_on=posted_on,
        document_number=document_number,
        description=description,
        invoice=invoice,
        payment=payment,
        note=note,
    )
    return ledger_post_many(entries=[entry])[0]


def ledger_post_many(*, entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Add entries in one statement (their accounts locked by the caller's transaction); keys are set."""
    for entry in entries:
        entry.description = entry.description[:200]
    return LedgerEntry.objects.bulk_create(entries)


def account_balance_locked(*, account: Account) -> Decimal:
    return money_sum(account.entries.all())


def invoice_post(*, invoice: Invoice) -> LedgerEntry:
    """Post an issued invoice to its customer's account, with the balance lines it prints, then allocate
    any credit waiting on the account to it. Call inside the issuing transaction, after the invoice is saved.

    Fills previous_balance (the balance when the last invoice was posted), payments_since and
    amount_due, which the invoice prints and keeps.
    """
    account = account_lock(account=invoice.account or account_for_customer(customer=invoice.customer))
    last_pk = (
        account.entries.filter(kind=LedgerEntry.Kind.INVOICE)
        .exclude(invoice=invoice)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    ) or 0
    credit_kinds = [LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.REVERSAL]
    sums = account.entries.aggregate(
        balance=Sum("amount"),
        previous=Sum("amount", filter=Q(pk__lte=last_pk)),
        credits_since=Sum("amount", filter=Q(pk__gt=last_pk, kind__in=credit_kinds)),
    )
    balance_before = money(sums["balance"])
    entry = ledger_post(
        account=account,
        kind=LedgerEntry.Kind.INVOICE,
        amount=invoice.total,
        posted_on=_local_day(invoice.created_at),
        document_number=invoice.number,
        description=f"Electricity bill {invoice.month_label}, meter {invoice.device.device_id}",
        invoice=invoice,
    )
    invoice.account = account
    invoice.consumer_number = account.consumer_number
    invoice.previous_balance = money(sums["previous"])
    invoice.payments_since = ZERO - money(sums["credits_since"])
    invoice.amount_due = balance_before + invoice.total
    invoice.save(update_fields=["account", "consumer_number", "previous_balance", "payments_since", "amount_due"])
    # Allocation leaves no credit beside an open charge, so credit waits only on an account in credit:
    # otherwise there is nothing to settle the new invoice with. A zero bill is settled at once.
    if balance_before < ZERO or invoice.total <= ZERO:
        ledger_allocate(account=account)
    return entry


def ledger_allocate(*, account: Account) -> list[Allocation]:
    """Settle the account's open charges, oldest first, from its unallocated credits, oldest first.

    A credit note raised against an invoice settles that invoice before any other. The
    account must be locked by the caller's transaction. Invoices fully settled become paid
    (on the day of the credit that finished them); invoices reopened by a reversal become
    issued or overdue again.
    """
    return ledger_allocate_accounts(account_ids=[account.pk])


def ledger_allocate_accounts(*, account_ids: Iterable[int], arrivals: Sequence[LedgerEntry] = ()) -> list[Allocation]:
    """ledger_allocate for many accounts (each locked by the caller) in a few queries whatever their number.

    ``arrivals`` are credits the caller has just posted, in the order it posted them: each is
    allocated as if ledger_allocate had run right after it, so a batch leaves exactly the
    allocations that posting them one at a time would.
    """
    account_ids = sorted(set(account_ids))
    charges_of: dict[int, list[LedgerEntry]] = defaultdict(list)
    credits_of: dict[int, list[LedgerEntry]] = defaultdict(list)
    for chunk in _chunks(account_ids):
        for charge in charges_with_open_amounts(LedgerEntry.objects.filter(account_id__in=chunk)):
            charges_of[charge.account_id].append(charge)
        credits = (
            LedgerEntry.objects.filter(account_id__in=chunk)
            .filter(
                Q(kind=LedgerEntry.Kind.CREDIT_NOTE)
                | Q(kind=LedgerEntry.Kind.PAYMENT, payment__reversed_at__isnull=True)
            )
            .annotate(used=Sum("allocations_made__amount", filter=Q(allocations_made__released_at=None)))
            .select_related("note")
            .order_by("posted_on", "pk")
        )
        for credit in credits:
            credit.available = -credit.amount - money(credit.used)
            credits_of[credit.account_id].append(credit)
    arriving_of: dict[int, list[int]] = defaultdict(list)
    for entry in arrivals:
        arriving_of[entry.account_id].append(entry.pk)
    open_amounts: dict[int, Decimal] = {}
    made: list[Allocation] = []
    now = timezone.now()
    for account_id in account_ids:
        charges = charges_of[account_id]
        open_amounts.update((charge.pk, charge.open_amount) for charge in charges)
        arriving = set(arriving_of[account_id])
        credit_by_pk = {credit.pk: credit for credit in credits_of[account_id]}
        present = [credit for credit in credits_of[account_id] if credit.pk not in arriving]
        made += _allocation_pass(present, charges, open_amounts, now)
        for pk in arriving_of[account_id]:
            insort(present, credit_by_pk[pk], key=lambda credit: (credit.posted_on, credit.pk))
            made += _allocation_pass(present, charges, open_amounts, now)
    Allocation.objects.bulk_create(made)
    _invoice_statuses_follow(
        charges=[charge for account_id in account_ids for charge in charges_of[account_id]], open_amounts=open_amounts
    )
    return made


def _allocation_pass(
    credits: list[LedgerEntry], charges: list[LedgerEntry], open_amounts: dict[int, Decimal], now: datetime
) -> list[Allocation]:
    """One sweep of ledger_allocate's rule over one account: credits and charges oldest first.
    Updates each credit's ``available`` and ``open_amounts`` in place."""
    made: list[Allocation] = []
    for credit in credits:
        available = credit.available
        if available <= ZERO:
            continue
        preferred = credit.note.invoice_id if credit.note_id and credit.note.invoice_id else None
        ordered = sorted(charges, key=lambda charge: charge.invoice_id != preferred) if preferred else charges
        for charge in ordered:
            if available <= ZERO:
                break
            open_amount = open_amounts[charge.pk]
            if open_amount <= ZERO:
                continue
            amount = min(open_amount, available)
            made.append(Allocation(credit=credit, charge=charge, amount=amount, allocated_at=now))
            open_amounts[charge.pk] = open_amount - amount
            available -= amount
        credit.available = available
    return made


def _invoice_statuses_follow(*, charges: list[LedgerEntry], open_amounts: dict[int, Decimal]) -> None:
    """Invoices whose charge is settled become paid, on the day of the latest credit that settled them
    (today for a bill of nothing); paid ones reopened become issued or overdue. Held bills stay held."""
    today = billing_today()
    invoice_charges = {charge.invoice_id: charge.pk for charge in charges if charge.kind == LedgerEntry.Kind.INVOICE}
    settled = [invoice_id for invoice_id, pk in invoice_charges.items() if open_amounts[pk] <= ZERO]
    reopened = [invoice_id for invoice_id, pk in invoice_charges.items() if open_amounts[pk] > ZERO]
    invoices = Invoice.objects.exclude(status=Invoice.Status.HELD)
    paid_on: dict[date, list[int]] = defaultdict(list)
    for chunk in _chunks(settled):
        to_pay = list(invoices.filter(pk__in=chunk).exclude(status=Invoice.Status.PAID).values_list("pk", flat=True))
        if not to_pay:
            continue
        last_credit_day = dict(
            Allocation.objects.filter(charge_id__in=[invoice_charges[pk] for pk in to_pay], released_at__isnull=True)
            .values("charge_id")
            .annotate(last=Max("credit__posted_on"))
            .values_list("charge_id", "last")
        )
        for pk in to_pay:
            paid_on[last_credit_day.get(invoice_charges[pk], today)].append(pk)
    for day, invoice_ids in paid_on.items():
        for chunk in _chunks(invoice_ids):
            Invoice.objects.filter(pk__in=chunk).update(status=Invoice.Status.PAID, paid_date=day)
    for chunk in _chunks(reopened):
        for invoice_id, due_date in invoices.filter(pk__in=chunk, status=Invoice.Status.PAID).values_list(
            "pk", "due_date"
        ):
            status = Invoice.Status.OVERDUE if due_date < today else Invoice.Status.ISSUED
            Invoice.objects.filter(pk=invoice_id).update(status=status, paid_date=None)


def allocations_release(*, credit: LedgerEntry) -> int:
    """Release what a credit settled (its payment was reversed); the account must be locked."""
    return Allocation.objects.filter(credit=credit, released_at__isnull=True).update(released_at=timezone.now())
