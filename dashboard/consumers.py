"""WebSocket endpoint for a meter's live power: /ws/devices/<device_id>/live.

Only the meter's owner or staff get in; everyone else is refused during the handshake with
close code 4401 or 4404. The close codes and the messages sent to the browser:
docs/dashboard.md#live-power-from-the-meter-to-the-browser.
"""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard.live import live_fanout, live_group_name, live_message
from devices.selectors import device_get_visible
from readings.selectors import reading_latest

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class LiveReadingsConsumer(AsyncWebsocketConsumer):
    device_id: str | None = None
    watching = False

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        device_id = self.scope["url_route"]["kwargs"]["device_id"]
        payload_format = await _watchable_format(user=user, device_id=device_id)
        if payload_format is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.device_id = device_id
        await self.channel_layer.group_add(live_group_name(device_id), self.channel_name)
        await self.accept()
        latest = await _latest_reading(device_id)
        if latest is not None:
            await self._send_reading(live_message(latest)["reading"], latest=True)
        self.watching = True
        live = await live_fanout().watch(device_id, payload_format)
        await self.send(text_data=json.dumps({"type": "status", "live": live}))

    async def disconnect(self, code):
        if self.device_id is None:
            return
        await self.channel_layer.group_discard(live_group_name(self.device_id), self.channel_name)
        if self.watching:
            self.watching = False
            await live_fanout().unwatch(self.device_id)

    async def receive(self, text_data=None, bytes_data=None):
        """The socket is one-way; anything the browser sends is ignored."""

    async def reading_live(self, event):
        await self._send_reading(event["reading"], latest=False)

    async def _send_reading(self, reading: dict, *, latest: bool) -> None:
        await self.send(text_data=json.dumps({"type": "reading", "reading": reading, "latest": latest}))


@database_sync_to_async
def _watchable_format(*, user, device_id: str) -> str | None:
    """The meter's payload format when this user may watch it, else None."""
    device = device_get_visible(user=user, device_id=device_id)
    return None if device is None else device.payload_format


@database_sync_to_async
def _latest_reading(device_id: str):
    return reading_latest(device_id)
