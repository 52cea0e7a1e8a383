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

from billing import explain, usage_chart
from billing.months import month_bounds, next_month
from billing.selectors import meter_usage_history
from billing.upi import PNG_DATA_URI, upi_payment_uri, upi_qr_data_uri
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
    if uri.startswith(PNG_DATA_URI):  # an image drawn for this document (the UPI QR code)
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


def upi_payment(invoice, *, summary: explain.AccountSummary | None) -> dict | None:
    """The "scan to pay" block: a UPI link for what the bill asks to be paid, as a QR code. None when no
    UPI address is configured, nothing is due, or the bill is not (or no longer) waiting for payment."""
    vpa = settings.UTILITY_UPI_VPA
    amount = summary.amount_due if summary is not None else invoice.total
    payable = invoice.status in (invoice.Status.ISSUED, invoice.Status.OVERDUE)
    if not vpa or amount <= 0 or not payable:
        return None
    uri = upi_payment_uri(vpa=vpa, payee=settings.UTILITY_NAME, amount=amount, note=invoice.number)
    return {"vpa": vpa, "amount": amount, "uri": uri, "qr": upi_qr_data_uri(uri)}


def invoice_pdf_context(invoice) -> dict:
    period_start, period_end = month_bounds(invoice.month, billing_zone())
    last_day = next_month(invoice.month).toordinal() - 1
    summary = explain.account_summary(invoice)
    usage = usage_chart.usage_bars(
        meter_usage_history(device=invoice.device, until_month=invoice.month, months=usage_chart.MONTHS)
    )
    return {
        "invoice": invoice,
        "utility": utility_details(),
        "device": invoice.device,
        "period_start": period_start,
        "period_last_day": invoice.month.fromordinal(last_day),
        "period_end": period_end,
        "billing_time_zone": billing_zone().key,
        "slabs": invoice.slab_rows(),
        "tax_percent": explain.percent(invoice.tax_rate),
        "tax_line_label": explain.tax_line_label(invoice),
        "summary": summary,
        "upi": upi_payment(invoice, summary=summary),
        "usage": usage,
        "usage_has_estimates": any(bar.estimated for bar in usage),
        "usage_blank_columns": range(usage_chart.MONTHS - len(usage)),
        "usage_column_percent": f"{100 / usage_chart.MONTHS:.2f}",
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
