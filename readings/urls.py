"""readings API routes, mounted under /api/."""

from django.urls import path

import devices.converters  # noqa: F401 - registers the device_id converter
from readings.apis import (
    DeviceReadingLatestApi,
    DeviceReadingsSeriesApi,
    ReadingLatestApi,
    ReadingsCsvApi,
    ReadingsSeriesApi,
)

urlpatterns = [
    path("readings/<device_id:device_id>", ReadingsSeriesApi.as_view(), name="readings-series"),
    path("readings/<device_id:device_id>/latest", ReadingLatestApi.as_view(), name="readings-latest"),
    path("readings/<device_id:device_id>/csv", ReadingsCsvApi.as_view(), name="readings-csv"),
    path("devices/<device_id:device_id>/readings", DeviceReadingsSeriesApi.as_view(), name="device-readings-series"),
    path(
        "devices/<device_id:device_id>/readings/latest",
        DeviceReadingLatestApi.as_view(),
        name="device-readings-latest",
    ),
]
