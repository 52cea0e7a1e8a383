"""The receivables ledger: accounts, document numbers, postings and the allocation of credits to charges.

Every write here runs inside the caller's transaction and starts by locking the account row,
so postings and allocations for one account happen one at a time whatever runs concurrently.
Rules: docs/billing.md#receivables.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from billing.models import Account, Allocation, DocumentSequence, Invoice, LedgerEntry, Note, Payment
from billing.numbering import consumer_number, document_number, financial_year
from billing.receivables import money, money_sum
from billing.selectors import billing_today
from billing.zone import billing_zone

ZERO = Decimal("0.00")


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


def document_number_take(*, series: str, on: date) -> str:
    """The next number in a series for the financial year of ``on``, taken inside the caller's transaction.

    The sequence row stays locked until that transaction ends: a concurrent issuer waits, and a
    rollback gives the number back, so the series has no gaps and no repeats.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Document numbers must be taken inside the issuing transaction.")
    year = financial_year(on)
    DocumentSequence.objects.bulk_create([DocumentSequence(series=series, financial_year=year)], ignore_conflicts=True)
    sequence = DocumentSequence.objects.select_for_update().get(series=series, financial_year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return document_number(series, year, sequence.last_number)


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
    return LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        posted_on=posted_on,
        document_number=document_number,
        description=description[:200],
        invoice=invoice,
        payment=payment,
        note=note,
    )


def account_balance_locked(*, account: Account) -> Decimal:
    return money_sum(account.entries.all())


def invoice_post(*, invoice: Invoice) -> LedgerEntry:
    """Post an issued invoice to its customer's account, with the balance lines it prints, then allocate
    any credit waiting on the account to it. Call inside the issuing transaction, after the invoice is saved.

    Fills previous_balance (the balance when the last invoice was posted), payments_since and
    amount_due, which the invoice prints and keeps.
    """
    account = account_lock(account=invoice.account or account_for_customer(customer=invoice.customer))
    last_invoice_entry = (
        account.entries.filter(kind=LedgerEntry.Kind.INVOICE).exclude(invoice=invoice).order_by("-pk").first()
    )
    if last_invoice_entry is None:
        previous_balance = ZERO
        since = account.entries.all()
    else:
        previous_balance = money_sum(account.entries.filter(pk__lte=last_invoice_entry.pk))
        since = account.entries.filter(pk__gt=last_invoice_entry.pk)
    credits_since = ZERO - money_sum(since.filter(kind__in=[LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.REVERSAL]))
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
    invoice.previous_balance = previous_balance
    invoice.payments_since = credits_since
    invoice.amount_due = account_balance_locked(account=account)
    invoice.save(update_fields=["account", "consumer_number", "previous_balance", "payments_since", "amount_due"])
    ledger_allocate(account=account)
    return entry


def _charges_with_open_amounts(account: Account) -> list[LedgerEntry]:
    charges = (
        account.entries.filter(kind__in=[LedgerEntry.Kind.INVOICE, LedgerEntry.Kind.DEBIT_NOTE])
        .annotate(settled=Sum("allocations_received__amount", filter=Q(allocations_received__released_at=None)))
        .order_by("posted_on", "pk")
    )
    for charge in charges:
        charge.open_amount = charge.amount - money(charge.settled)
    return list(charges)


def ledger_allocate(*, account: Account) -> list[Allocation]:
    """Settle the account's open charges, oldest first, from its unallocated credits, oldest first.

    A credit note raised against an invoice settles that invoice before any other. The
    account must be locked by the caller's transaction. Invoices fully settled become paid
    (on the day of the credit that finished them); invoices reopened by a reversal become
    issued or overdue again.
    """
    charges = _charges_with_open_amounts(account)
    credits = (
        account.entries.filter(
            Q(kind=LedgerEntry.Kind.CREDIT_NOTE) | Q(kind=LedgerEntry.Kind.PAYMENT, payment__reversed_at__isnull=True)
        )
        .annotate(used=Sum("allocations_made__amount", filter=Q(allocations_made__released_at=None)))
        .select_related("note")
        .order_by("posted_on", "pk")
    )
    open_amounts = {charge.pk: charge.open_amount for charge in charges}
    made: list[Allocation] = []
    now = timezone.now()
    for credit in credits:
        available = -credit.amount - money(credit.used)
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
    Allocation.objects.bulk_create(made)
    _invoice_statuses_follow(account=account, charges=charges, open_amounts=open_amounts)
    return made


def _invoice_statuses_follow(*, account: Account, charges: list[LedgerEntry], open_amounts: dict) -> None:
    today = billing_today()
    invoice_charges = {charge.invoice_id: charge for charge in charges if charge.kind == LedgerEntry.Kind.INVOICE}
    invoices = Invoice.objects.filter(pk__in=invoice_charges).exclude(status=Invoice.Status.HELD)
    for invoice in invoices.only("pk", "status", "due_date", "paid_date"):
        charge = invoice_charges[invoice.pk]
        if open_amounts[charge.pk] <= ZERO and invoice.status != Invoice.Status.PAID:
            last = (
                Allocation.objects.filter(charge=charge, released_at__isnull=True)
                .select_related("credit")
                .order_by("-credit__posted_on")
                .first()
            )
            invoice.status = Invoice.Status.PAID
            invoice.paid_date = last.credit.posted_on if last else today
            invoice.save(update_fields=["status", "paid_date"])
        elif open_amounts[charge.pk] > ZERO and invoice.status == Invoice.Status.PAID:
            invoice.status = Invoice.Status.OVERDUE if invoice.due_date < today else Invoice.Status.ISSUED
            invoice.paid_date = None
            invoice.save(update_fields=["status", "paid_date"])


def allocations_release(*, credit: LedgerEntry) -> int:
    """Release what a credit settled (its payment was reversed); the account must be locked."""
    return Allocation.objects.filter(credit=credit, released_at__isnull=True).update(released_at=timezone.now())
