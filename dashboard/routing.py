"""WebSocket routes of the customer dashboard (included by smartmeter/routing.py)."""

from django.urls import re_path

from dashboard.consumers import LiveReadingsConsumer

websocket_urlpatterns = [
    re_path(r"^ws/devices/(?P<device_id>[A-Za-z0-9_-]{1,64})/live$", LiveReadingsConsumer.as_asgi()),
]
