"""/sessions/{id}/replay: the player of a session's recordings (web/static/js/replay.js),
fed by the time line API. Who may replay is decided by `sessions.identity` through the time
line; this page only says so when the answer is no."""

from __future__ import annotations

from aiohttp import web

from sessions import receptions
from sessions import recordings as recs
from sessions.access import Perm
from sessions.models import SessionState
from web.http import principal, requires
from web.keys import DB
from web.pages import lookup
from web.pages.forms import render
from web.validation import path_id

REPLAYABLE = (SessionState.LIVE, SessionState.ENDED, SessionState.ARCHIVED)


@requires(Perm.CASES_READ)
async def replay_page(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        s = await receptions.get_session(db, p, path_id(request))
        allowed, _ = await recs.may_replay(db, p, s.id)
        chair = (await lookup.account_names(db, [s.chair_id])).get(s.chair_id, "")
    restricted = None
    if not allowed:
        restricted = (
            "Phiên có vụ việc tố cáo: bản ghi chỉ dành cho người được cấp quyền xem danh tính"
            " người tố cáo của vụ việc đó."
        )
    elif s.state not in REPLAYABLE:
        restricted = "Phiên chưa diễn ra: chưa có gì để xem lại."
    return render(
        "sessions/replay.html", request, {"s": s, "chair": chair, "restricted": restricted}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/sessions/{id:[0-9]+}/replay", replay_page)
