"""The API served on a thread of its own (its own event loop), beside the ingest worker and the
alert service in one process, or alone."""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web

from .app import ApiConfig, make_app

log = logging.getLogger(__name__)


class ApiServer:
    def __init__(self, config: ApiConfig):
        self.config = config
        self.port: int | None = None
        self.app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.failure: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def url(self) -> str:
        return f"http://{self.config.settings.host}:{self.port}"

    def start(self, timeout: float = 60) -> "ApiServer":
        self._thread = threading.Thread(target=self._run, name="api", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self.failure is not None:
            raise RuntimeError(f"the API did not start: {self.failure}")
        log.info("API and dashboard on %s", self.url)
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to the caller of start()
            self.failure = e
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _serve(self) -> None:
        s = self.config.settings
        self.app = make_app(self.config)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)
