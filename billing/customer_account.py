"""Reads for a customer's own view of their account: which account, where it stands today (balance,
what is due and by when), and its payments. Rules: docs/billing.md#receivables."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings

from billing.models import Account, LedgerEntry, Payment
from billing.receivables import ZERO, account_balance, account_open_charges
from billing.upi import upi_payment_uri

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from accounts.models import User

logger = logging.getLogger(__name__)


def account_of(*, customer: User) -> Account | None:
    """The person's account, or None before their first bill opens one."""
    return Account.objects.filter(customer=customer).select_related("customer").first()


@dataclass(frozen=True)
class AccountPosition:
    """Where an account stands: the balance (negative: credit), the charges still open, oldest first,
    and the earliest due date among the open invoices (None: nothing open, or only notes)."""

    account: Account
    balance: Decimal
    open_charges: tuple[LedgerEntry, ...]
    amount_due: Decimal
    due_date: date | None
    today: date

    @property
    def credit(self) -> Decimal:
        return -self.balance if self.balance < ZERO else ZERO

    @property
    def overdue(self) -> bool:
        return self.due_date is not None and self.due_date < self.today


def account_position(*, account: Account, today: date) -> AccountPosition:
    charges = tuple(account_open_charges(account=account))
    due_dates = [charge.invoice.due_date for charge in charges if charge.invoice is not None]
    return AccountPosition(
        account=account,
        balance=account_balance(account=account),
        open_charges=charges,
        amount_due=sum((charge.open_amount for charge in charges), ZERO),
        due_date=min(due_dates, default=None),
        today=today,
    )


def account_upi_uri(*, position: AccountPosition) -> str | None:
    """The UPI link for what is due now, the consumer number as its note; None when nothing is due or
    the utility has no UPI address (UTILITY_UPI_VPA)."""
    if position.amount_due <= ZERO or not settings.UTILITY_UPI_VPA:
        return None
    try:
        return upi_payment_uri(
            vpa=settings.UTILITY_UPI_VPA,
            payee=settings.UTILITY_NAME,
            amount=position.amount_due,
            note=f"Consumer {position.account.consumer_number}",
        )
    except ValueError:
        logger.exception("UTILITY_UPI_VPA is not a UPI address; no UPI request is offered")
        return None


def account_payments(*, account: Account) -> QuerySet[Payment]:
    """The account's payments, newest first (reversed ones included, marked)."""
    return account.payments.order_by("-received_on", "-pk")


def account_payment(*, account: Account, number: str) -> Payment | None:
    """One of the account's payments by receipt number; another account's receipt is None, like a missing one."""
    return account.payments.filter(number=number).select_related("account__customer").first()
