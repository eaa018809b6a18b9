"""The Chromium pages of `tiepdan bench echo`, driven by Playwright: N pages that publish the
fake camera and microphone and receive their own media back through one server, a warm-up,
then two getStats samples around the measured window, with the server's CPU read at each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from web.bench_echo.report import PageFigures, Side, page_figures
from web.bench_echo.servers import Running, Seat
from web.chromium import CHROMIUM, MEDIA_ARGS
from web.chromium import CHROMIUM_ARGS as BASE_ARGS

CHROMIUM_ARGS = [
    *BASE_ARGS,
    *MEDIA_ARGS,
    # ICE on loopback (Janus offers 127.0.0.1 only), and no mDNS names for host candidates.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # Every page is measured: none may be throttled as a background tab.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
CONNECT_LIMIT = 30.0  # seconds for every page to get its first frame back
PAGE_JS = files("web.bench_echo").joinpath("page.js").read_text()
JANUS_PAGE = "/echo-bench.html"
JANUS_HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>tiepdan bench echo: Janus echotest</title></head><body></body></html>"
)


@dataclass(frozen=True, slots=True)
class Timing:
    warmup: float
    duration: float


Opener = Callable[[Browser, int], Awaitable[tuple[BrowserContext, Page]]]


def tiepdan_opener(server: Running, seats: list[Seat]) -> Opener:
    """Page i logs in as seat i's focal staff and joins its endpoint's test room."""

    async def open_page(browser: Browser, i: int) -> tuple[BrowserContext, Page]:
        seat = seats[i]
        context = await browser.new_context(base_url=server.base_url)
        api = context.request  # the browser's own HTTP client, not a handler's request
        resp = await api.post(
            "/api/v1/auth/login", data={"username": seat.username, "password": seat.password}
        )
        if not resp.ok:
            raise RuntimeError(f"login as {seat.username} failed: HTTP {resp.status}")
        page = await context.new_page()
        await page.goto("/")
        await page.evaluate(PAGE_JS)
        await page.evaluate("id => window.echoBench.startTiepdan(id)", seat.endpoint_id)
        return context, page

    return open_page


def janus_opener(server: Running) -> Opener:
    """Page i is the bench's own page, served on Janus's origin (so its fetch() calls to
    /janus are same-origin), and runs the echotest over the HTTP API."""

    async def open_page(browser: Browser, i: int) -> tuple[BrowserContext, Page]:
        context = await browser.new_context(base_url=server.base_url)
        await context.route(
            f"{server.base_url}{JANUS_PAGE}",
            lambda route: route.fulfill(body=JANUS_HTML, content_type="text/html"),
        )
        page = await context.new_page()
        await page.goto(JANUS_PAGE)
        await page.evaluate(PAGE_JS)
        await page.evaluate("() => window.echoBench.startJanus()")
        return context, page

    return open_page


async def _sample(page: Page | None) -> dict[str, Any]:
    if page is None:
        return {}
    try:
        sample: dict[str, Any] = await page.evaluate("() => window.echoBench.sample()")
    except Exception as exc:  # a crashed or closed page: its figures say so
        return {"error": f"getStats failed: {exc}"}
    return sample


async def _open_all(browser: Browser, n: int, opener: Opener) -> list[Any]:
    async def one(i: int) -> Any:
        try:
            return await opener(browser, i)
        except Exception as exc:
            return exc

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _wait_video(pages: list[Page | None]) -> None:
    """Until every page decodes its own video back, or CONNECT_LIMIT passes (the figures of
    a page that got nothing say so)."""
    deadline = time.monotonic() + CONNECT_LIMIT
    while time.monotonic() < deadline:
        samples = await asyncio.gather(*(_sample(p) for p in pages))
        if all((s.get("inbound") or {}).get("frames_decoded", 0) > 0 for s in samples):
            return
        await asyncio.sleep(0.5)  # polling the condition, within the deadline


async def measure(
    name: str, opener: Opener, n: int, timing: Timing, cpu: Callable[[], float]
) -> Side:
    """Open n pages through `opener`, warm up, and measure one window."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            opened = await _open_all(browser, n, opener)
            pages = [o[1] if isinstance(o, tuple) else None for o in opened]
            await _wait_video(pages)
            await asyncio.sleep(timing.warmup)  # the warm-up is a span of time by definition
            first = await asyncio.gather(*(_sample(p) for p in pages))
            cpu0, t0 = cpu(), time.monotonic()
            await asyncio.sleep(timing.duration)  # the measured window
            last = await asyncio.gather(*(_sample(p) for p in pages))
            cpu1, t1 = cpu(), time.monotonic()
        finally:
            await browser.close()
    figures = [
        _figures(i, o, a, b) for i, (o, a, b) in enumerate(zip(opened, first, last, strict=True))
    ]
    return Side(name, tuple(figures), cpu1 - cpu0, t1 - t0)


def _figures(i: int, opened: Any, first: dict[str, Any], last: dict[str, Any]) -> PageFigures:
    if isinstance(opened, BaseException):
        return PageFigures(i, f"the page did not open: {opened}")
    return page_figures(i, first, last)
