"""The month of a meter exchange is billed once, on the new meter, across both registers."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.models import BillingRun, Invoice
from billing.services import billing_run
from billing.services.run_plan import SKIP_EXCHANGED
from devices.models import Device
from devices.services import device_exchange
from tests.factories import DeviceFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_exchange_month_spans_the_old_and_new_registers_with_no_spike(customer, seed_tariff):
    old = DeviceFactory(device_id="meter-old", owner=customer)
    Device.objects.filter(pk=old.pk).update(created_at=ist(2024, 12, 1))
    write_registers("meter-old", [(ist(2024, 12, 31, 23), "12339.000"), (ist(2025, 1, 1, 1), "12341.000")])
    write_registers("meter-old", [(ist(2025, 1, 16, 9), "12410.400")])
    device_exchange(
        old_device=Device.objects.get(pk=old.pk),
        new_device_id="meter-new",
        old_final_register=Decimal("12410.500"),
        new_initial_register=Decimal("0.100"),
        exchanged_at=ist(2025, 1, 16, 10),
        actor=None,
    )
    write_registers("meter-new", [(ist(2025, 1, 16, 11), "0.600"), (ist(2025, 2, 1), "80.100")])

    outcome = billing_run(month=date(2025, 1, 1), now=ist(2025, 2, 1) + timedelta(hours=1))

    invoice = Invoice.objects.get()
    assert invoice.device.device_id == "meter-new"
    # Old: 12340.000 at midnight (interpolated) to the final read 12410.500 = 70.500;
    # new: initial 0.100 to 80.100 at the closing read = 80.000. The register's jump
    # from 12410 to 0.6 is not a reset.
    assert invoice.energy_kwh == Decimal("150.500")
    assert (invoice.start_register, invoice.end_register) == (Decimal("12340.000"), Decimal("80.100"))
    assert invoice.register_resets == 0
    assert invoice.service_days is None  # the connection was in service all month
    assert outcome.run.skipped_detail == {SKIP_EXCHANGED: ["meter-old"]}
    assert BillingRun.objects.get().billed == 1
