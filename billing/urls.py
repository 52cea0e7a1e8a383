"""billing API routes, mounted under /api/."""

from django.urls import path

import billing.converters  # noqa: F401 - registers the invoice_number and document_number converters
import devices.converters  # noqa: F401 - registers the device_id converter
from billing.apis import BillPreviewApi, InvoiceListApi, InvoicePdfApi, TariffApi
from billing.note_apis import InvoiceNoteApi, InvoiceRerateApi, NotePdfApi
from billing.payment_apis import PaymentListApi, PaymentReceiptApi, PaymentReverseApi

urlpatterns = [
    path("tariffs", TariffApi.as_view(), name="tariffs"),
    path("billing/<device_id:device_id>", BillPreviewApi.as_view(), name="bill-preview"),
    path("invoices/<invoice_number:invoice_id>/notes", InvoiceNoteApi.as_view(), name="invoice-notes"),
    path("invoices/<invoice_number:invoice_id>/rerate", InvoiceRerateApi.as_view(), name="invoice-rerate"),
    path("notes/<document_number:number>/pdf", NotePdfApi.as_view(), name="note-pdf"),
    path("invoices/<invoice_number:invoice_id>/pdf", InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<device_id:device_id>", InvoiceListApi.as_view(), name="invoice-list"),
    path("payments", PaymentListApi.as_view(), name="payments"),
    path("payments/<document_number:receipt_number>/reverse", PaymentReverseApi.as_view(), name="payment-reverse"),
    path("payments/<document_number:receipt_number>/receipt", PaymentReceiptApi.as_view(), name="payment-receipt"),
]
