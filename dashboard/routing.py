"""WebSocket routes of the customer dashboard (included by smartmeter/routing.py)."""

from django.urls import re_path

from dashboard.consumers import LiveReadingsConsumer
from devices.identity import DEVICE_ID_CHARS

websocket_urlpatterns = [
    re_path(rf"^ws/devices/(?P<device_id>{DEVICE_ID_CHARS})/live$", LiveReadingsConsumer.as_asgi()),
]
