from django.urls import path

from devices.apis import DeviceDetailApi, DeviceListCreateApi

urlpatterns = [
    path("devices", DeviceListCreateApi.as_view(), name="device-list"),
    path("devices/<str:device_id>", DeviceDetailApi.as_view(), name="device-detail"),
]
