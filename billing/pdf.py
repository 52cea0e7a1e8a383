"""PDF documents (invoices, receipts, notes, statements, letters): the only module that renders PDFs,
with xhtml2pdf over templates under templates/billing/.

The template embeds DejaVu Sans, shipped under static/fonts/ with its licence,
so the ₹ sign and customers' names in Latin, Greek or Cyrillic script render
the same on every machine (no system font is used). Text in an Indic script is
shaped by billing.pdf_shaping and drawn as outlines (the ``pdf_text`` filter).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from xhtml2pdf import pisa

from billing import explain
from billing.months import month_bounds, next_month
from billing.words import amount_in_words
from billing.zone import billing_zone

logger = logging.getLogger(__name__)

TEMPLATE = "billing/invoice_pdf.html"
FONT_FILES = {"regular": "fonts/DejaVuSans.ttf", "bold": "fonts/DejaVuSans-Bold.ttf"}
INLINE_SVG = "data:image/svg+xml;base64,"


class PdfRenderError(RuntimeError):
    pass


def static_file_path(relative: str) -> str:
    found = finders.find(relative)
    if not found:
        candidate = Path(settings.STATIC_ROOT) / relative
        if not candidate.exists():
            raise PdfRenderError(f"Static file {relative} is missing; the invoice font cannot be embedded.")
        found = str(candidate)
    return str(found)


def _link_callback(uri: str, rel: str) -> str:
    """Resolve the template's font references to files on disk; nothing is fetched over the network."""
    prefix = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
    for start in (prefix, settings.STATIC_URL):
        if uri.startswith(start):
            return static_file_path(uri[len(start) :])
    if uri in FONT_FILES.values():
        return static_file_path(uri)
    if uri.startswith(INLINE_SVG):  # text shaped by billing.pdf_shaping, carried in the page itself
        return uri
    raise PdfRenderError(f"The invoice template refers to {uri!r}, which is not a shipped static file.")


def utility_details() -> dict:
    """The utility's own details, printed at the head of every document."""
    return {
        "name": settings.UTILITY_NAME,
        "address": settings.UTILITY_ADDRESS,
        "email": settings.UTILITY_EMAIL,
        "gstin": settings.UTILITY_GSTIN,
    }


def invoice_pdf_context(invoice) -> dict:
    period_start, period_end = month_bounds(invoice.month, billing_zone())
    last_day = next_month(invoice.month).toordinal() - 1
    return {
        "invoice": invoice,
        "utility": utility_details(),
        "device": invoice.device,
        "period_start": period_start,
        "period_last_day": invoice.month.fromordinal(last_day),
        "period_end": period_end,
        "billing_time_zone": billing_zone().key,
        "slabs": invoice.slab_rows(),
        "tax_percent": (invoice.tax_rate * 100).normalize(),
        "fonts": FONT_FILES,
        # Estimate, adjustment, credit and split month in plain words (billing.explain).
        "estimate_sentence": explain.estimate_sentence(invoice),
        "adjustment_heading": explain.ADJUSTMENT_HEADING,
        "adjustments": explain.adjustment_lines(invoice),
        "credit_sentences": explain.credit_sentences(invoice),
        "explanations": explain.invoice_explanations(invoice),
        "parts": explain.part_lines(invoice),
        "fixed_charge_label": explain.fixed_charge_label(invoice),
    }


def render_document(template: str, context: dict, *, name: str) -> bytes:
    """Any document as PDF bytes: ``template`` rendered with ``context`` plus the utility's details and the
    embedded fonts. ``name`` says what is rendered, for the error message."""
    html = render_to_string(template, {"utility": utility_details(), "fonts": FONT_FILES, **context})
    output = io.BytesIO()
    result = pisa.CreatePDF(html, dest=output, link_callback=_link_callback, encoding="utf-8")
    if result.err:
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s) rendering {name}.")
    return output.getvalue()


def render_invoice_pdf(invoice) -> bytes:
    """The invoice as PDF bytes, from its frozen snapshot (rendering twice gives the same document)."""
    return render_document(TEMPLATE, invoice_pdf_context(invoice), name=f"invoice {invoice.number}")


RECEIPT_TEMPLATE = "billing/receipt_pdf.html"
STATEMENT_TEMPLATE = "billing/statement_pdf.html"


def render_receipt_pdf(payment, *, allocations, unapplied, balance_after) -> bytes:
    """A payment's receipt: what was received, what it settled, and the balance it left."""
    context = {
        "payment": payment,
        "account": payment.account,
        "customer": payment.account.customer,
        "amount_in_words": amount_in_words(payment.amount),
        "allocations": allocations,
        "unapplied": unapplied,
        "balance_after": balance_after,
        "document_title": "PAYMENT RECEIPT",
        "document_lines": [("Receipt", payment.number), ("Received", payment.received_on.strftime("%-d %b %Y"))],
    }
    return render_document(RECEIPT_TEMPLATE, context, name=f"receipt {payment.number}")


def render_statement_pdf(statement, *, today) -> bytes:
    """An account statement: the entries of a period with the balance brought forward and a running balance."""
    context = {
        "statement": statement,
        "account": statement.account,
        "customer": statement.account.customer,
        "today": today,
        "document_title": "ACCOUNT STATEMENT",
        "document_lines": [("Consumer number", statement.account.consumer_number)],
    }
    return render_document(STATEMENT_TEMPLATE, context, name=f"statement of {statement.account.consumer_number}")


DISCONNECTION_LETTER_TEMPLATE = "billing/disconnection_letter_pdf.html"


def render_disconnection_letter_pdf(notice, *, period_days: int, pay_by) -> bytes:
    """A notice of disconnection: the arrears, the notice period and the day to pay by, and how to pay.
    It only warns; nothing is switched off by issuing it."""
    issued_on = notice.issued_at.astimezone(billing_zone()).date()
    context = {
        "notice": notice,
        "account": notice.account,
        "customer": notice.account.customer,
        "issued_on": issued_on,
        "period_days": period_days,
        "pay_by": pay_by,
        "amount_in_words": amount_in_words(notice.amount_overdue),
        "document_title": "NOTICE OF DISCONNECTION",
        "document_lines": [
            ("Consumer number", notice.account.consumer_number),
            ("Date", issued_on.strftime("%-d %b %Y")),
        ],
    }
    return render_document(
        DISCONNECTION_LETTER_TEMPLATE, context, name=f"disconnection notice for {notice.account.consumer_number}"
    )
