"""billing API routes, mounted under /api/."""

from django.urls import path

import billing.converters  # noqa: F401 - registers the invoice_number converter
import devices.converters  # noqa: F401 - registers the device_id converter
from billing.account_apis import AccountApi, ReceiptListApi, ReceiptPdfApi, StatementApi
from billing.apis import BillPreviewApi, InvoiceListApi, InvoicePdfApi, TariffApi

urlpatterns = [
    path("account", AccountApi.as_view(), name="account"),
    path("account/statement", StatementApi.as_view(), name="account-statement"),
    path("account/receipts", ReceiptListApi.as_view(), name="account-receipts"),
    path("account/receipts/<invoice_number:receipt_number>/pdf", ReceiptPdfApi.as_view(), name="account-receipt-pdf"),
    path("tariffs", TariffApi.as_view(), name="tariffs"),
    path("billing/<device_id:device_id>", BillPreviewApi.as_view(), name="bill-preview"),
    path("invoices/<invoice_number:invoice_id>/pdf", InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<device_id:device_id>", InvoiceListApi.as_view(), name="invoice-list"),
]
