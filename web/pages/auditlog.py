"""The audit log, for auditors and administrators: /audit."""

from __future__ import annotations

from aiohttp import web

from sessions import audit
from sessions.access import Perm
from web.http import principal, requires
from web.keys import DB
from web.pages.forms import pager, render
from web.pages.labels import AUDIT_ACTIONS
from web.validation import page_request


@requires(Perm.AUDIT_READ)
async def audit_list(request: web.Request) -> web.StreamResponse:
    req = page_request(request)
    action = request.query.get("action", "")[:64]
    async with request.app[DB]() as db:
        page = await audit.list_records(db, principal(request), req, action)
    return render(
        "audit/list.html",
        request,
        {
            "items": page.items,
            "pager": pager(request, page),
            "action": action,
            "actions": AUDIT_ACTIONS,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/audit", audit_list)
