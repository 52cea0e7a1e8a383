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
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from xhtml2pdf import pisa

from billing import explain, usage_chart
from billing.calculation import round_money
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
        "slab_style_sentence": explain.slab_style_sentence(invoice),
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


NOTE_TEMPLATE = "billing/note_pdf.html"

# What a re-rated month's note compares, as stored in Note.detail: (label, before key, after key, is energy).
RERATE_ROWS = (
    ("Energy (kWh)", "energy_kwh_before", "energy_kwh_after", True),
    ("Energy charges", "subtotal_before", "subtotal_after", False),
    ("Fixed charge", "fixed_charge_before", "fixed_charge_after", False),
    ("tax", "tax_before", "tax_after", False),
    ("Total before credit", "total_before", "total_after", False),
)


def rerate_rows(detail: dict, invoice) -> list[dict]:
    """The month as it stood and as billed again, line by line, from a re-rating note's detail."""
    tax_label = f"{(invoice.tax_rate * 100).normalize()}% {invoice.tax_label}"
    rows = []
    for label, before_key, after_key, is_energy in RERATE_ROWS:
        if before_key not in detail or after_key not in detail:
            continue
        before, after = Decimal(detail[before_key]), Decimal(detail[after_key])
        rows.append(
            {
                "label": tax_label if label == "tax" else label,
                "before": before,
                "after": after,
                "difference": after - before,
                "energy": is_energy,
            }
        )
    return rows


def _tax_split(note) -> tuple[Decimal, Decimal] | None:
    """A plain note's amount as taxable value and tax, at the rate of the invoice it refers to."""
    if note.invoice is None or not note.invoice.tax_rate:
        return None
    taxable = round_money(note.amount / (1 + note.invoice.tax_rate))
    return taxable, note.amount - taxable


def render_note_pdf(note, *, balance_after) -> bytes:
    """A credit or debit note: what it corrects, the amount with its tax, and the balance it left."""
    invoice = note.invoice
    issued_on = note.issued_at.astimezone(billing_zone()).date()
    is_rerate = note.reason == note.Reason.RERATE and bool(note.detail) and invoice is not None
    split = None if is_rerate else _tax_split(note)
    context = {
        "note": note,
        "account": note.account,
        "customer": note.account.customer,
        "invoice": invoice,
        "issued_on": issued_on,
        "amount_in_words": amount_in_words(note.amount),
        "rerate_rows": rerate_rows(note.detail, invoice) if is_rerate else [],
        "closing_before": note.detail.get("closing_register_before") if is_rerate else None,
        "closing_after": note.detail.get("closing_register_after") if is_rerate else None,
        "taxable": split[0] if split else None,
        "tax": split[1] if split else None,
        "tax_label": f"{(invoice.tax_rate * 100).normalize()}% {invoice.tax_label}" if invoice else "",
        "balance_after": balance_after,
        "document_title": "CREDIT NOTE" if note.is_credit else "DEBIT NOTE",
        "document_lines": [
            ("Number", note.number),
            ("Date", issued_on.strftime("%-d %b %Y")),
            ("Consumer number", note.account.consumer_number),
        ],
    }
    return render_document(NOTE_TEMPLATE, context, name=f"note {note.number}")


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
