"""The WebSocket route of last resort: a path no route matches (an unknown path, a meter id
that no meter could have — non-ASCII, NUL) is refused during the handshake with close code
4404, as the live view refuses a meter it will not show. Without it Channels' URLRouter
raises ValueError("No route found for path ...") and daphne logs a traceback."""

from channels.generic.websocket import AsyncWebsocketConsumer

CLOSE_NO_ROUTE = 4404


class NoRouteConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=CLOSE_NO_ROUTE)
