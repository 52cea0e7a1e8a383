"""Billing emails: the only module that sends mail. One small function per kind of email.

Each email is rendered from templates/emails/<name>-subject.txt, -body.txt and
-body.html and sent through Django's mail system (configured by EMAIL_URL).
Callers decide when to send (after the write commits); this module only sends.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from billing.pdf import invoice_pdf_context


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
    message.send(fail_silently=False)


def _context(invoice) -> dict:
    context = invoice_pdf_context(invoice)
    context["customer_name"] = invoice.customer_name or invoice.customer_email.split("@", 1)[0]
    return context


def send_invoice_issued(invoice, *, pdf: bytes) -> None:
    """The new invoice, with its PDF attached."""
    _send(
        "invoice-issued",
        to=invoice.customer_email,
        context=_context(invoice),
        attachments=[(invoice.pdf_filename, pdf, "application/pdf")],
    )


def send_invoice_overdue(invoice, *, pdf: bytes) -> None:
    """The single reminder for an invoice past its due date, with the PDF attached again."""
    _send(
        "invoice-overdue",
        to=invoice.customer_email,
        context=_context(invoice),
        attachments=[(invoice.pdf_filename, pdf, "application/pdf")],
    )
