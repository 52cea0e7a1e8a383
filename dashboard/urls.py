from django.urls import path

import devices.converters  # noqa: F401 - registers the device_id converter
from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.meters, name="meters"),
    path("add-meter/", views.add_meter, name="add-meter"),
    path("meters/<device_id:device_id>/", views.meter, name="meter"),
    path("invoices/", views.invoices, name="invoices"),
]
