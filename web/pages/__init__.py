"""Server-rendered pages (jinja2, autoescaped, Vietnamese).

`setup`, `context`, `setup_filters` and `render_error` are what the composition root and the
error middleware use; each page module adds its own routes."""

from __future__ import annotations

import re

from aiohttp import web

from web.http import Handler, public, redirect
from web.pages import (
    admin_accounts,
    admin_units,
    archive,
    auditlog,
    calendar,
    casefiles,
    copies,
    intake,
    minutes,
    readiness,
    receptions,
    replay,
    scheduling,
    shell,
)
from web.pages.shell import context, error_html, render_error, setup_filters

__all__ = ["back_to_forms", "context", "error_html", "render_error", "setup", "setup_filters"]


def setup(app: web.Application) -> None:
    for module in (shell, receptions, intake, casefiles, admin_units, admin_accounts, auditlog):
        module.setup(app)
    readiness.setup(app)
    calendar.setup(app)
    scheduling.setup(app)
    copies.setup(app)
    archive.setup(app)
    replay.setup(app)
    minutes.setup(app)


def back_to_forms(app: web.Application) -> None:
    """A GET on a page URL that only takes a form's POST goes back to the form's page.

    A failed post is answered at the URL it went to (the form again, with its errors next
    to the fields); Enter in the address bar, a bookmark or the history then asked that URL
    with GET and met "Lỗi 405". Called once every page route is in (room, exports...)."""
    for resource in list(app.router.resources()):
        path = resource.canonical
        methods = {route.method for route in resource}
        if path.startswith(("/api/", "/static")) or "GET" in methods or "POST" not in methods:
            continue
        if isinstance(resource, web.Resource):
            resource.add_route("GET", _back(path.rsplit("/", 1)[0] or "/"))


def _back(form_page: str) -> Handler:
    @public
    async def back(request: web.Request) -> web.StreamResponse:
        target = form_page
        for key, value in request.match_info.items():
            target = re.sub(r"\{" + re.escape(key) + r"(:[^}]*)?\}", value, target)
        return redirect(target)

    return back
