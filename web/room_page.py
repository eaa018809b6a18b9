"""The live session room page: /sessions/{id}/room hosts the browser client
(web/static/js/session-room.js), which talks to the bridge at /api/v1/sessions/{id}/bridge."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from sessions import live, receptions
from sessions.access import Perm
from web.http import principal, requires
from web.keys import CONFIG, DB
from web.validation import path_id


@requires(Perm.SESSIONS_READ)
async def room_page(request: web.Request) -> web.StreamResponse:
    """The room of one session the caller may see (404 otherwise). Whether the caller may
    take a seat is the bridge's authorizer's question, answered when the client joins."""
    session_id = path_id(request)
    async with request.app[DB]() as db:
        s = await receptions.get_session(db, principal(request), session_id)
        # What everyone in the room is shown of each case: decided for an audience with no
        # clearance, as the room's agenda message is (a protected citizen is never named).
        agenda = [await live.agenda_display(db, item) for item in s.agenda]
    ice = [
        {"urls": list(server.urls)}
        | (
            {"username": server.username, "credential": server.credential}
            if server.username
            else {}
        )
        for server in request.app[CONFIG].bridge.ice_servers
    ]
    context = {"session_id": s.id, "title": s.title, "ice_servers": ice, "agenda": agenda}
    return aiohttp_jinja2.render_template("room.html", request, context)


def setup(app: web.Application) -> None:
    app.router.add_get("/sessions/{id:[0-9]+}/room", room_page)
