"""Path converters for document numbers: `invoice_number` (any invoice id, old formats included) and
`document_number` (an invoice, credit note, debit note or receipt numbered from the gapless series).

`billing.services.invoices.invoice_number` makes the numbers; a test checks that every
number it makes matches INVOICE_NUMBER_CHARS, so a new format (with '/' between its parts,
say) changes this pattern too. A segment that does not match never reaches a query: the
URL does not resolve and the caller gets the API's JSON 404.
"""

from django.urls import register_converter

# Today's numbers are INV-<yyyymm>-<meter pk>; at most 40 characters (Invoice.number's max_length).
INVOICE_NUMBER_CHARS = r"[A-Za-z0-9_-]{1,40}"


class InvoiceNumberConverter:
    regex = INVOICE_NUMBER_CHARS

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(InvoiceNumberConverter, "invoice_number")


# An issued document's number (billing.numbering.document_number): series, financial year, sequence.
DOCUMENT_NUMBER_CHARS = r"(INV|CRN|DBN|RCT)-[0-9]{4}-[0-9]{7}"


class DocumentNumberConverter:
    regex = DOCUMENT_NUMBER_CHARS

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(DocumentNumberConverter, "document_number")
