"""billing API routes, mounted under /api/."""

from django.urls import path

from billing.apis import BillPreviewApi, InvoiceListApi, InvoicePdfApi, TariffApi

urlpatterns = [
    path("tariffs", TariffApi.as_view(), name="tariffs"),
    path("billing/<str:device_id>", BillPreviewApi.as_view(), name="bill-preview"),
    path("invoices/<str:invoice_id>/pdf", InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<str:device_id>", InvoiceListApi.as_view(), name="invoice-list"),
]
