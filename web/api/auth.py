"""POST /api/v1/auth/login, /logout and GET /api/v1/auth/me."""

from __future__ import annotations

from aiohttp import web

from sessions.errors import TooMany
from web import auth, serialize
from web.errors import Unauthorized
from web.http import ok, principal, public, requires
from web.keys import CONFIG, CSRF, DB, METRICS
from web.validation import Fields, read_json


@public
async def login(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    f = Fields(body, {"username", "password"})
    username = f.text("username", required=True, max_len=64)
    password = f.text("password", required=True, max_len=1024)
    f.done()
    assert username is not None and password is not None
    outcome = await auth.login(request, username, password)
    metrics, cfg = request.app[METRICS], request.app[CONFIG]
    if outcome.locked:
        metrics.logins.labels("locked").inc()
        raise TooMany(auth.failure_message(outcome, cfg))
    if outcome.account is None:
        metrics.logins.labels("failed").inc()
        raise Unauthorized(auth.failure_message(outcome, cfg))
    metrics.logins.labels("ok").inc()
    data = serialize.account(outcome.account, cfg.tz) | {"csrf_token": outcome.csrf_token}
    response = ok({"account": data, "csrf_token": outcome.csrf_token})
    auth.set_session_cookie(response, request, outcome.token)
    return response


@requires(None)
async def logout(request: web.Request) -> web.StreamResponse:
    await auth.logout(request)
    response = ok({"status": "logged_out"})
    response.del_cookie(auth.COOKIE, path="/")
    return response


@requires(None)
async def me(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        from sessions.models import Account

        account = await db.get(Account, p.account_id)
    assert account is not None
    return ok(
        {"account": serialize.account(account, request.app[CONFIG].tz), "csrf_token": request[CSRF]}
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/auth/me", me)
