"""factory_boy factories for the apps' models, one module per app (cookiecutter-django style).

Import them from here: ``from tests.factories import DeviceFactory``. Values that are not
model rows (readings, consumption, telemetry) are built by tests/support/readings.py.
"""

from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.factories.billing import SEED_SLABS, BillingRunFactory, InvoiceFactory, TariffFactory
from tests.factories.devices import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory
from tests.factories.readings import DeadLetterFactory
from tests.factories.receivables import AccountFactory, PaymentFactory

__all__ = [
    "CLAIM_CODE",
    "DEFAULT_PASSWORD",
    "SEED_SLABS",
    "AccountFactory",
    "BillingRunFactory",
    "DeadLetterFactory",
    "DeviceFactory",
    "InvoiceFactory",
    "PaymentFactory",
    "TariffFactory",
    "UnclaimedDeviceFactory",
    "UserFactory",
]
