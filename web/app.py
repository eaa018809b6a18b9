"""The composition root: `create_app(config)` builds every service and wires the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import text

from sessions.db import create_engine, session_factory
from web import (
    api,
    bundle,
    documents,
    exports,
    inbound,
    live,
    metrics_media,
    openapi,
    pages,
    prepare,
    recordings,
    replay,
    room_page,
)
from web.api.schedule import SCHEDULING, scheduling_ctx
from web.config import Config
from web.errors import json_error
from web.http import ok, public
from web.keys import CLOCK, CONFIG, DB, ENGINE, METRICS, Clock
from web.metrics import Metrics, bearer_matches, is_loopback
from web.middleware import errors, observe, signed_in

HERE = Path(__file__).parent


def _utcnow() -> datetime:
    return datetime.now(UTC)


@public
async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the reason is the point of this endpoint
        return web.json_response(
            {
                "status": "error",
                "database": "unreachable",
                "reason": type(exc).__name__ + ": " + str(exc)[:300],
            },
            status=503,
        )
    return ok({"status": "ok", "database": "ok"})


@public
async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus metrics, for this machine or a scraper holding TIEPDAN_METRICS_TOKEN."""
    token = request.app[CONFIG].metrics_token
    if not is_loopback(request.remote) and not bearer_matches(
        inbound.header(request, "Authorization"), token
    ):
        return json_error(
            403,
            "forbidden",
            "Chỉ máy chủ này hoặc máy giám sát có mã truy cập được đọc số liệu vận hành.",
            {"Authorization": "thiếu hoặc sai mã truy cập (Bearer)"},
        )
    await request.app[METRICS].refresh()
    body = request.app[METRICS].render()
    return web.Response(
        body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


@public
async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask for /favicon.ico whatever the page links to (feeds, bookmarks, tabs)."""
    return web.FileResponse(
        HERE / "static" / "favicon.svg",
        headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"},
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[CONFIG].database)
    app[ENGINE] = engine
    app[DB] = session_factory(engine)
    yield
    await engine.dispose()


def create_app(config: Config, clock: Clock | None = None) -> web.Application:
    """Build the app. `clock` is injectable so tests can move time (deadlines, expiry)."""
    config = config.with_secret()
    app = web.Application(
        middlewares=[observe, errors, signed_in], client_max_size=config.max_body_bytes
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[CLOCK] = clock or _utcnow
    app.cleanup_ctx.append(recordings.storage_ctx)  # a bad store fails the start first
    app.cleanup_ctx.append(_database)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[pages.context],
    )
    pages.setup_filters(env, config)
    prepare.install(app, lambda status, message: pages.error_html(env, status, message))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static", HERE / "static", name="static")
    app[SCHEDULING] = config.scheduling
    app.cleanup_ctx.append(scheduling_ctx)
    api.setup(app)
    openapi.setup(app)
    live.setup(app, config.bridge)
    recordings.setup(app)  # after live: the service stops before the bridge
    app.cleanup_ctx.append(metrics_media.metrics_ctx)  # after both: it reads them
    replay.setup(app)
    exports.setup(app)
    bundle.setup(app)  # after exports: it stops first, then the export worker
    documents.setup(app)
    pages.setup(app)
    room_page.setup(app)
    pages.back_to_forms(app)  # last: every page route is in
    return app
