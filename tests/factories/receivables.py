"""Accounts and payments are made by billing's receivables services, so that they carry consumer numbers,
receipt numbers, ledger entries and allocations as the product makes them. Invoices from InvoiceFactory
are issued, so they are already posted to their customer's account."""

from datetime import date
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from billing.models import Account, Payment
from billing.services.ledger import account_for_customer
from billing.services.payments import payment_record
from tests.factories.accounts import UserFactory


class AccountFactory(DjangoModelFactory):
    """A customer's account, opened as the product opens it (its consumer number from the customer's key)."""

    customer = factory.SubFactory(UserFactory)

    class Meta:
        model = Account

    @classmethod
    def _create(cls, model_class, customer):
        return account_for_customer(customer=customer)


class PaymentFactory(DjangoModelFactory):
    """A payment recorded with payment_record: a receipt number, a ledger entry, allocated oldest bill first."""

    account = factory.SubFactory(AccountFactory)
    amount = Decimal("500.00")
    method = Payment.Method.CASH
    received_on = date(2025, 2, 10)
    reference = ""
    actor = None

    class Meta:
        model = Payment

    @classmethod
    def _create(cls, model_class, **kwargs):
        return payment_record(**kwargs)
