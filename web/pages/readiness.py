"""Readiness pages: the focal staff's check (/readiness/check), the reception officer's board
(/readiness, live over Server-Sent Events) and the account's notifications (/notifications)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scheduling import notify, readiness
from scheduling.config import Thresholds
from sessions.access import Perm, Principal
from sessions.errors import NotFound
from sessions.models import Endpoint, Role
from web.api.schedule import board_data, scheduling_config
from web.http import principal, requires
from web.keys import CLOCK, CONFIG, DB
from web.pages.forms import render


def _focal_endpoint(p: Principal) -> int | None:
    return p.endpoint_id if Role.FOCAL_STAFF in p.roles else None


def ice_servers(request: web.Request) -> list[dict[str, Any]]:
    return [
        {"urls": list(server.urls)}
        | (
            {"username": server.username, "credential": server.credential}
            if server.username
            else {}
        )
        for server in request.app[CONFIG].bridge.ice_servers
    ]


def _thresholds(t: Thresholds) -> dict[str, Any]:
    return {
        "max_rtt_ms": t.max_rtt_ms,
        "max_loss_pct": t.max_loss_pct,
        "min_fps": t.min_fps,
        "min_width": t.min_width,
        "min_height": t.min_height,
    }


async def _due(request: web.Request, p: Principal, endpoint_id: int) -> list[dict[str, Any]]:
    """The upcoming sessions of the endpoint and their readiness, for the page's list."""
    cfg = scheduling_config(request.app)
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        sessions = await readiness.due_sessions(db, endpoint_id, now, cfg)
        out = []
        for s in sessions:
            rows = await readiness.for_session(db, p, s.id, now, cfg)
            mine = next((r for r in rows if r.endpoint_id == endpoint_id), None)
            out.append({"session": s, "readiness": mine})
    return out


@requires(Perm.SESSIONS_READ)  # and focal staff of an endpoint, checked below
async def check_page(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    endpoint_id = _focal_endpoint(p)
    if endpoint_id is None:  # a page that says whose it is, rather than an error
        return render("readiness/not_focal.html", request, {})
    async with request.app[DB]() as db:
        endpoint = await db.get(Endpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Không tìm thấy điểm cầu #{endpoint_id}.")
    cfg = scheduling_config(request.app)
    return render(
        "readiness/check.html",
        request,
        {
            "endpoint": endpoint,
            "ice_servers": ice_servers(request),
            "check_seconds": cfg.check_seconds,
            "media_timeout": cfg.check_media_timeout_seconds,
            "thresholds": _thresholds(cfg.thresholds),
            "due": await _due(request, p, endpoint_id),
        },
    )


@requires(Perm.SESSIONS_WRITE)  # the reception officer and the administrator
async def board_page(request: web.Request) -> web.StreamResponse:
    return render(
        "readiness/board.html",
        request,
        {"board": await board_data(request.app, principal(request))},
    )


@requires(None)
async def notifications_page(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        rows = await notify.list_for(db, principal(request).account_id, False)
    return render("notifications.html", request, {"items": rows})


def setup(app: web.Application) -> None:
    app.router.add_get("/readiness/check", check_page)
    app.router.add_get("/readiness", board_page)
    app.router.add_get("/notifications", notifications_page)
