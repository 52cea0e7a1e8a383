from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.meters, name="meters"),
    path("add-meter/", views.add_meter, name="add-meter"),
    path("meters/<str:device_id>/", views.meter, name="meter"),
    path("invoices/", views.invoices, name="invoices"),
]
