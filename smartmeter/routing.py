"""WebSocket routes. Each app contributes its own list."""

from dashboard.routing import websocket_urlpatterns as dashboard_websocket_urlpatterns

websocket_urlpatterns: list = [*dashboard_websocket_urlpatterns]
