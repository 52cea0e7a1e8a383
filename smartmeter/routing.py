"""WebSocket routes. Each app contributes its own list; a path none of them matches is refused (ops.websocket)."""

from django.urls import re_path

from dashboard.routing import websocket_urlpatterns as dashboard_websocket_urlpatterns
from ops.websocket import NoRouteConsumer

websocket_urlpatterns: list = [
    *dashboard_websocket_urlpatterns,
    re_path(r"", NoRouteConsumer.as_asgi()),  # last: anything else
]
