"""Billing fixtures: the seed tariff, readings written through the real readings store, private media in tmp."""

import email
import email.policy
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from billing.services import tariff_create
from tests.support.network import free_port

IST = ZoneInfo("Asia/Kolkata")

SEED_SLABS = [
    {"range_start": 0, "range_end": 100, "rate": "3.50"},
    {"range_start": 101, "range_end": 300, "rate": "4.50"},
    {"range_start": 301, "range_end": None, "rate": "6.00"},
]


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BILLING_TIME_ZONE = "Asia/Kolkata"
    settings.INVOICE_DUE_DAYS = 15


@pytest.fixture
def seed_tariff(db):
    """The seed's tariff (0-100 @3.50, 101-300 @4.50, 301+ @6.00, fixed 50, tax 18%) in force since 2020."""
    return tariff_create(slabs=SEED_SLABS, fixed_charge="50.00", tax_rate="0.18", effective_from=date(2020, 1, 1))


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def reading(device_id: str, timestamp: datetime, energy_kwh, *, power_w: float = 500.0):
    from readings.types import Reading

    return Reading(
        device_id=device_id,
        timestamp=timestamp.astimezone(ZoneInfo("UTC")),
        voltage=230.0,
        current=2.2,
        power_w=power_w,
        energy_kwh=float(energy_kwh),
        power_factor=0.98,
        rssi=-60,
    )


def write_registers(device_id: str, points) -> int:
    """Store (timestamp, register kWh) points for a meter through the readings store, as ingestion would."""
    from readings.stores import get_store

    return get_store().write_many([reading(device_id, timestamp, energy) for timestamp, energy in points])


@pytest.fixture
def registers():
    return write_registers


def month_of_registers(device_id: str, *, month_start: datetime, start_kwh: Decimal, used_kwh: Decimal):
    """Two readings exactly on the month's boundaries: the month's consumption is exactly ``used_kwh``."""
    from billing.months import next_month

    end = datetime.combine(next_month(month_start.date()), datetime.min.time(), tzinfo=month_start.tzinfo)
    return [(month_start, start_kwh), (end, start_kwh + used_kwh)]


def consumption(device_id: str, energy_kwh, *, start_register="1000.000", readings: int = 2976, resets: int = 0):
    """A Consumption as the readings selector returns it (for tests about invoices, not about consumption)."""
    from readings.types import Consumption

    energy = Decimal(str(energy_kwh)).quantize(Decimal("0.001"))
    if readings == 0:
        return Consumption(device_id, Decimal("0.000"), None, None, None, None, 0, 0)
    start = Decimal(start_register)
    return Consumption(
        device_id=device_id,
        energy_kwh=energy,
        start_register=start,
        end_register=start + energy,
        first_reading_at=ist(2025, 1, 1, 0, 0),
        last_reading_at=ist(2025, 1, 31, 23, 45),
        reading_count=readings,
        resets=resets,
    )


@pytest.fixture
def invoice_factory(seed_tariff, device):
    """Issue an invoice through the service (PDF included) for a given consumption; default: 250 kWh in Jan 2025."""
    from billing.services import invoice_issue

    def make(*, month=date(2025, 1, 1), meter=None, energy_kwh="250", readings=2976):
        meter = meter or device
        invoice, created = invoice_issue(
            device=meter,
            month=month,
            consumption=consumption(meter.device_id, energy_kwh, readings=readings),
            tariff=tariff_for(month),
        )
        assert created
        return invoice

    def tariff_for(month):
        from billing.selectors import tariff_for_month

        return tariff_for_month(month=month)

    return make


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []
        self.sessions = set()  # one per SMTP connection

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.sessions.add(id(session))
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.SMTP)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield inbox
    controller.stop()
