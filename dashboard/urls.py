from django.urls import path

import billing.converters  # noqa: F401 - registers the document_number converter
import devices.converters  # noqa: F401 - registers the device_id converter
from dashboard import account_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.meters, name="meters"),
    path("add-meter/", views.add_meter, name="add-meter"),
    path("meters/<device_id:device_id>/", views.meter, name="meter"),
    path("meters/<device_id:device_id>/readings.csv", views.meter_csv, name="meter-csv"),
    path("invoices/", views.invoices, name="invoices"),
    path("account/statement/", account_views.statement, name="statement"),
    path("account/statement/pdf/", account_views.statement_pdf, name="statement-pdf"),
    path("account/statement/csv/", account_views.statement_csv_download, name="statement-csv"),
    path("account/receipts/", account_views.receipts, name="receipts"),
    path("account/receipts/<document_number:number>.pdf", account_views.receipt_pdf, name="receipt-pdf"),
    path("account/pay/", account_views.pay, name="pay"),
    path("account/pay/qr.svg", account_views.pay_qr, name="pay-qr"),
]
