"""readings API routes, mounted under /api/."""

from django.urls import path

from readings.apis import DeviceReadingLatestApi, DeviceReadingsSeriesApi, ReadingLatestApi, ReadingsSeriesApi

urlpatterns = [
    path("readings/<str:device_id>", ReadingsSeriesApi.as_view(), name="readings-series"),
    path("readings/<str:device_id>/latest", ReadingLatestApi.as_view(), name="readings-latest"),
    path("devices/<str:device_id>/readings", DeviceReadingsSeriesApi.as_view(), name="device-readings-series"),
    path("devices/<str:device_id>/readings/latest", DeviceReadingLatestApi.as_view(), name="device-readings-latest"),
]
