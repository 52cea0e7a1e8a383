"""Billing emails: the only module that sends mail. One small function per kind of email.

Each email is rendered from templates/emails/<name>-subject.txt, -body.txt and
-body.html and sent through Django's mail system (configured by EMAIL_URL).
Callers decide when to send (after the write commits); this module only sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.template.loader import render_to_string

from billing.pdf import invoice_pdf_context, utility_details

logger = logging.getLogger(__name__)

_shared_connection: ContextVar = ContextVar("billing_mail_connection", default=None)


@contextmanager
def one_connection() -> Iterator[None]:
    """Send every email inside the block over one mail-server connection.

    A billing run sends one email per meter; opening an SMTP (and TLS) session
    for each costs more than composing the message. If the server cannot be
    reached now, each send opens its own connection and fails on its own.
    """
    connection = mailers.default  # a new backend instance of the configured mailer
    try:
        connection.open()
    except Exception:
        logger.warning("Mail server unreachable; emails will be tried one by one", exc_info=True)
        yield
        return
    token = _shared_connection.set(connection)
    try:
        yield
    finally:
        _shared_connection.reset(token)
        try:
            connection.close()
        except Exception:
            logger.warning("Closing the mail connection failed", exc_info=True)


def _send(name: str, *, to: str, context: dict, attachments: list[tuple[str, bytes, str]] = ()) -> None:
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = render_to_string(f"emails/{name}-body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[settings.UTILITY_EMAIL],
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    connection = _shared_connection.get()
    if connection is None:
        message.send()
        return
    try:
        connection.send_messages([message])
    except Exception:
        # The shared session may have been dropped by the server: reopen it once and retry.
        connection.close()
        connection.open()
        connection.send_messages([message])


def _context(invoice) -> dict:
    context = invoice_pdf_context(invoice)
    context["customer_name"] = invoice.customer_name or invoice.customer_email.split("@", 1)[0]
    return context


class InvoiceHeld(ValueError):
    """A bill held for review is not sent to its customer until staff release it."""


def _refuse_held(invoice) -> None:
    if invoice.is_held:
        raise InvoiceHeld(f"Invoice {invoice.number} is held for review; it is not sent until released.")


def send_invoice_issued(invoice, *, pdf: bytes) -> None:
    """The new invoice, with its PDF attached (never one held for review: InvoiceHeld)."""
    _refuse_held(invoice)
    _send(
        "invoice-issued",
        to=invoice.customer_email,
        context=_context(invoice),
        attachments=[(invoice.pdf_filename, pdf, "application/pdf")],
    )


REMINDER_TEMPLATES = {
    "before_due": "reminder-before-due",
    "after_due": "reminder-after-due",
    "final": "reminder-final",
}


def send_payment_reminder(invoice, *, stage: str, open_amount, balance, today, statement: tuple[str, bytes]) -> None:
    """A payment reminder at one stage (billing.models.Reminder.Stage: before the due date, after it, final
    notice), with what is open on the invoice, the account balance and the account statement attached."""
    _refuse_held(invoice)
    context = _context(invoice)
    context.update(
        stage=stage,
        open_amount=open_amount,
        balance=balance,
        today=today,
        days_past_due=(today - invoice.due_date).days,
        days_to_due=(invoice.due_date - today).days,
        consumer_number=invoice.consumer_number,
    )
    filename, pdf = statement
    _send(
        REMINDER_TEMPLATES[stage],
        to=invoice.customer.email or invoice.customer_email,
        context=context,
        attachments=[(filename, pdf, "application/pdf")],
    )


def send_payment_receipt(payment, *, pdf: bytes) -> None:
    """The receipt for a payment, with its PDF attached."""
    customer = payment.account.customer
    _send(
        "payment-receipt",
        to=customer.email,
        context={
            "payment": payment,
            "account": payment.account,
            "customer_name": customer.display_name,
            "utility": utility_details(),
        },
        attachments=[(payment.receipt_filename, pdf, "application/pdf")],
    )


def send_note_issued(note, *, pdf: bytes) -> None:
    """A credit or debit note, with its PDF attached."""
    customer = note.account.customer
    _send(
        "note-issued",
        to=customer.email,
        context={
            "note": note,
            "invoice": note.invoice,
            "account": note.account,
            "customer_name": customer.display_name,
            "utility": utility_details(),
        },
        attachments=[(note.pdf_filename, pdf, "application/pdf")],
    )
