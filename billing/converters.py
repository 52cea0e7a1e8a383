"""Path converters for billing's documents: `invoice_number` (any invoice id an invoice route has taken) and
`document_number` (an invoice, note or receipt number as billing.numbering makes them).

A segment that does not match never reaches a query: the URL does not resolve and the caller
gets the API's JSON 404.
"""

from django.urls import register_converter

from billing.numbering import DOCUMENT_NUMBER_CHARS

# Any invoice number, at most 40 characters (Invoice.number's max_length); a test checks every number made matches.
INVOICE_NUMBER_CHARS = r"[A-Za-z0-9_-]{1,40}"


class InvoiceNumberConverter:
    regex = INVOICE_NUMBER_CHARS

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class DocumentNumberConverter:
    """<series>-<yyyy>-<seq>: INV, CRN, DBN or RCT, the financial year's two two-digit years, seven digits."""

    regex = DOCUMENT_NUMBER_CHARS

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(InvoiceNumberConverter, "invoice_number")
register_converter(DocumentNumberConverter, "document_number")
