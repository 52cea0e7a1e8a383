"""Billing fixtures: the seed tariff, invoices for the `device` fixture's meter, private media
in tmp, and a real SMTP server. Readings are written with tests/support/readings.py."""

import email
import email.policy
from functools import partial

import pytest
from aiosmtpd.controller import Controller

from tests.factories import InvoiceFactory, TariffFactory
from tests.support.network import free_port


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BILLING_TIME_ZONE = "Asia/Kolkata"
    settings.INVOICE_DUE_DAYS = 15


@pytest.fixture
def seed_tariff(db):
    """The seed's tariff (0-100 @3.50, 101-300 @4.50, 301+ @6.00, fixed 50, tax 18%) in force since 2020."""
    return TariffFactory()


@pytest.fixture
def invoice_factory(seed_tariff, device):
    """InvoiceFactory for the `device` fixture's meter under the seed tariff; default: 250 kWh in Jan 2025."""
    return partial(InvoiceFactory, device=device)


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
