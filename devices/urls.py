from django.urls import path

import devices.converters  # noqa: F401 - registers the device_id converter
from devices.apis import DeviceDetailApi, DeviceListCreateApi

urlpatterns = [
    path("devices", DeviceListCreateApi.as_view(), name="device-list"),
    path("devices/<device_id:device_id>", DeviceDetailApi.as_view(), name="device-detail"),
]
