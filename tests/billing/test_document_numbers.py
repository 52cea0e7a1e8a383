"""Document numbers under concurrency: two billing runs issuing at once on PostgreSQL take numbers from one
gapless series, and a rolled-back issue gives its number back (docs/billing.md#document-numbers)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from django.db import IntegrityError, connection, connections, transaction

from billing.models import DocumentSequence, Invoice
from billing.numbering import document_number, financial_year
from billing.selectors import billing_today
from billing.services import billing_run
from billing.services.ledger import document_number_take
from devices.models import Device
from tests.factories import DeviceFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db(transaction=True)

METERS = 6


@pytest.fixture
def two_months_of_meters(customer, seed_tariff):
    for number in range(1, METERS + 1):
        device = DeviceFactory(device_id=f"meter-{number:03d}", owner=customer)
        write_registers(
            device.device_id,
            [(ist(2025, 1, 1), "1000"), (ist(2025, 2, 1), "1100"), (ist(2025, 3, 1), str(1100 + number))],
        )
    Device.objects.update(created_at=ist(2024, 12, 1))


def test_two_concurrent_runs_take_contiguous_invoice_numbers(two_months_of_meters):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent writers (run with DATABASE_URL=postgres://...)")

    def run_month(month):
        try:
            return billing_run(month=month).run.billed
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        billed = list(pool.map(run_month, [date(2025, 1, 1), date(2025, 2, 1)]))
    assert billed == [METERS, METERS]
    year = financial_year(billing_today())
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [document_number("INV", year, sequence) for sequence in range(1, 2 * METERS + 1)]
    assert DocumentSequence.objects.get(series="INV", financial_year=year).last_number == 2 * METERS


def test_a_rolled_back_issue_gives_its_number_back(db):
    day = date(2026, 5, 1)

    def issue_that_fails():
        with transaction.atomic():
            taken.append(document_number_take(series="INV", on=day))
            raise IntegrityError("the invoice could not be saved")

    taken = []
    with pytest.raises(IntegrityError):
        issue_that_fails()
    assert taken == ["INV-2627-0000001"]
    with transaction.atomic():
        assert document_number_take(series="INV", on=day) == "INV-2627-0000001"
        assert document_number_take(series="INV", on=day) == "INV-2627-0000002"


def test_numbers_are_taken_only_inside_a_transaction(db):
    assert not connection.in_atomic_block  # these tests run with real commits, outside any transaction
    with pytest.raises(RuntimeError, match="inside the issuing transaction"):
        document_number_take(series="INV", on=date(2026, 5, 1))
    assert not DocumentSequence.objects.exists()
