"""A MongoDB wire-protocol server for tests: mongoeco's proxy on a free port.

It runs its own asyncio loop in a background thread, so ordinary synchronous
clients (pymongo, MongoEngine) talk to it over TCP exactly as to a real
mongod. The memory engine keeps every test run fresh; it is slow per insert,
so tests keep their Mongo data to hundreds of readings.
"""

import asyncio
import threading


class MongoEcoServer:
    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.address: tuple[str, int] | None = None

    def uri(self, database: str) -> str:
        host, port = self.address
        return f"mongodb://{host}:{port}/{database}?directConnection=true"

    def start(self, timeout: float = 30) -> "MongoEcoServer":
        self._thread = threading.Thread(target=self._run, name="mongoeco-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("mongoeco server did not start in time")
        if self._error is not None:
            raise RuntimeError("mongoeco server failed to start") from self._error
        return self

    def stop(self, timeout: float = 10) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        from mongoeco.engines.memory import MemoryEngine
        from mongoeco.wire import AsyncMongoEcoProxyServer

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = AsyncMongoEcoProxyServer(engine=MemoryEngine(), host=self._host, port=0)
        address = await server.start()  # port 0: the OS picks a free port
        self.address = (address.host, address.port)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()
