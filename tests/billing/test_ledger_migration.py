"""Moving to the ledger: the data migration opens accounts for customers already invoiced, posts their issued
invoices (which keep their old numbers), pays the ones marked paid with a numbered receipt, and leaves held
bills off the ledger (docs/billing.md#moving-to-the-ledger)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0007_receivables")]
AFTER = [("billing", "0008_receivables_opening_ledger")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_invoices_issued_before_the_ledger_are_posted_and_keep_their_numbers():
    apps = _migrate(BEFORE)
    Tariff = apps.get_model("billing", "Tariff")
    Invoice = apps.get_model("billing", "Invoice")
    customer = UserFactory(email="old@example.com")  # accounts and devices stay at their latest schema
    device = DeviceFactory(device_id="meter-old", owner=customer)
    tariff = Tariff.objects.create(effective_from=date(2020, 1, 1), fixed_charge="50.00", tax_rate="0.1800")

    def invoice(month, number, status, total, paid_date=None):
        return Invoice.objects.create(
            number=number,
            device_id=device.pk,
            month=month,
            tariff=tariff,
            energy_kwh="250.000",
            slabs=[],
            subtotal="1025.00",
            fixed_charge="50.00",
            tax_rate="0.1800",
            tax="193.50",
            total=total,
            customer_id=customer.pk,
            customer_email=customer.email,
            status=status,
            created_at=datetime(month.year, month.month + 1, 1, 6, tzinfo=UTC),
            due_date=date(month.year, month.month + 1, 16),
            paid_date=paid_date,
        )

    invoice(date(2025, 1, 1), "INV-202501-000001", "paid", "1268.50", paid_date=date(2025, 2, 10))
    invoice(date(2025, 2, 1), "INV-202502-000001", "overdue", "1268.50")
    invoice(date(2025, 3, 1), "INV-202503-000001", "held", "9000.00")

    apps = _migrate(AFTER)
    Account = apps.get_model("billing", "Account")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Payment = apps.get_model("billing", "Payment")
    Allocation = apps.get_model("billing", "Allocation")
    Invoice = apps.get_model("billing", "Invoice")
    account = Account.objects.get(customer__email="old@example.com")
    assert len(account.consumer_number) == 10
    assert set(Invoice.objects.values_list("consumer_number", flat=True)) == {account.consumer_number}
    entries = list(LedgerEntry.objects.filter(account=account).order_by("posted_on", "pk"))
    assert [(entry.kind, entry.document_number, entry.amount) for entry in entries] == [
        ("invoice", "INV-202501-000001", Decimal("1268.50")),
        ("payment", "RCT-2425-0000001", Decimal("-1268.50")),
        ("invoice", "INV-202502-000001", Decimal("1268.50")),
    ]
    payment = Payment.objects.get()
    assert (payment.received_on, payment.method) == (date(2025, 2, 10), "cash")
    assert Allocation.objects.get().charge.document_number == "INV-202501-000001"
    assert sum(entry.amount for entry in entries) == Decimal("1268.50")  # what is still owed: February
