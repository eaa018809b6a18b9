"""The app served on a real loopback port, for a browser to drive.

The server runs in its own thread with its own event loop, so that the tests can use
Playwright's synchronous API (which refuses to run inside a running loop)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from aiohttp import web
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bridge import new_event_loop
from sessions.db import DatabaseConfig, create_engine, session_factory, transaction, upgrade
from sessions.seed import seed_demo
from tests.support import DEMO_PASSWORD, make_due_at
from web.app import create_app
from web.chromium import CHROMIUM, CHROMIUM_ARGS, MEDIA_ARGS
from web.config import Config
from web.keys import Clock

START_TIMEOUT = 30.0


def live_config(root: Path) -> Config:
    url = f"sqlite:///{root / 'e2e.db'}"
    return Config(
        var_dir=root / "var",
        database=DatabaseConfig(url=url),
        storage_url=f"file://{root / 'recordings'}",
        secret_key="e2e-secret-" + "k" * 40,
    )


async def _seed(config: Config, now: datetime | None = None) -> None:
    engine = create_engine(config.database)
    try:
        async with transaction(session_factory(engine)) as db:
            await seed_demo(db, DEMO_PASSWORD, now)
    finally:
        await engine.dispose()


class LiveServer:
    """`start()` migrates, seeds the demo province and serves; `stop()` undoes it.

    `clock`, when given, is the app's clock (and the seed's "now"): a test moves it from its
    own thread, e.g. a `tests.support.FakeClock` whose `now` it sets. With `due`, the demo
    session starts now (so that it may be opened)."""

    def __init__(self, config: Config, clock: Clock | None = None, due: bool = False) -> None:
        self.config = config
        self.clock = clock
        self.due = due
        self.loop = new_event_loop(config.event_loop)  # the loop `tiepdan serve` runs on
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-app", daemon=True)
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    def start(self) -> str:
        upgrade(self.config.database.url)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.base_url = future.result(timeout=START_TIMEOUT)
        return self.base_url

    async def _start(self) -> str:
        await _seed(self.config, self.clock() if self.clock else None)
        if self.due:
            await make_due_at(self.config.database.url, self.clock() if self.clock else None)
        self.runner = web.AppRunner(create_app(self.config, self.clock), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(
                timeout=START_TIMEOUT
            )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=START_TIMEOUT)
        self.loop.close()


@contextlib.contextmanager
def chromium(media: bool = False) -> Iterator[Browser]:
    """Headless Debian Chromium; with `media`, a fake camera and microphone."""
    pw = sync_playwright().start()
    try:
        args = CHROMIUM_ARGS + (MEDIA_ARGS if media else [])
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@contextlib.contextmanager
def served_page(server: LiveServer, wait_ms: int = 10_000) -> Iterator[Page]:
    """One Chromium page (no media, Vietnamese locale) on `server`, started here and
    stopped when the page is done."""
    base_url = server.start()
    try:
        with chromium(media=False) as browser:
            context = browser.new_context(
                base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(wait_ms)
            expect.set_options(timeout=wait_ms)
            yield context.new_page()
            context.close()
    finally:
        server.stop()
