"""billing API routes, mounted under /api/."""

from django.urls import path

import billing.converters  # noqa: F401 - registers the invoice_number and document_number converters
import devices.converters  # noqa: F401 - registers the device_id converter
from billing.account_apis import AccountApi, ReceiptListApi, ReceiptPdfApi, StatementApi
from billing.apis import BillPreviewApi, InvoiceListApi, InvoicePdfApi, TariffApi
from billing.note_apis import InvoiceNoteApi, InvoiceRerateApi, NotePdfApi
from billing.payment_apis import PaymentListApi, PaymentReceiptApi, PaymentReverseApi

urlpatterns = [
    path("account", AccountApi.as_view(), name="account"),
    path("account/statement", StatementApi.as_view(), name="account-statement"),
    path("account/receipts", ReceiptListApi.as_view(), name="account-receipts"),
    path("account/receipts/<document_number:receipt_number>/pdf", ReceiptPdfApi.as_view(), name="account-receipt-pdf"),
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
