"""The names tests/dashboard/test_back_office.py still builds its data with; new tests use
tests.factories.InvoiceFactory and tests.support.readings directly."""

from tests.factories import InvoiceFactory
from tests.support.readings import write_hourly

__all__ = ["issue_invoice", "write_hourly"]


def issue_invoice(device, *, month, energy_kwh="250.000"):
    return InvoiceFactory(device=device, month=month, energy_kwh=energy_kwh)
