"""The shell every page shares (navigation per role, filters, error page), sign-in, home."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from scheduling import notify
from sessions.access import Perm, Principal
from sessions.models import Role
from web import auth, inbound
from web.config import Config
from web.http import principal, public, redirect, requires, safe_next
from web.keys import CONFIG, CSRF, DB, METRICS, PRINCIPAL
from web.pages.forms import max_len_of
from web.pages.labels import ALL as LABELS
from web.pages.labels import ROLE_NAMES
from web.pages.numbers import number


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str
    perm: Perm | None
    role: Role | None = None  # and, when set, only accounts holding this role


NAV = (
    NavItem("/", "Trang chủ", None),
    NavItem("/sessions", "Phiên tiếp công dân", Perm.SESSIONS_READ),
    NavItem("/calendar", "Lịch", Perm.SESSIONS_READ),
    NavItem("/readiness/check", "Kiểm tra kết nối", Perm.SESSIONS_READ, Role.FOCAL_STAFF),
    NavItem("/readiness", "Sẵn sàng điểm cầu", Perm.SESSIONS_WRITE),
    NavItem("/cases", "Hồ sơ vụ việc", Perm.CASES_READ),
    NavItem("/archive", "Kho lưu trữ", Perm.CASES_READ),
    NavItem("/citizens", "Công dân", Perm.CITIZENS_READ),
    NavItem("/admin/units", "Đơn vị", Perm.UNITS_WRITE),
    NavItem("/admin/endpoints", "Điểm cầu", Perm.ENDPOINTS_WRITE),
    NavItem("/admin/accounts", "Tài khoản", Perm.ACCOUNTS_WRITE),
    NavItem("/audit", "Nhật ký", Perm.AUDIT_READ),
)


def nav_for(p: Principal | None) -> list[NavItem]:
    if p is None:
        return []
    return [
        n
        for n in NAV
        if (n.perm is None or p.can(n.perm)) and (n.role is None or n.role in p.roles)
    ]


async def _unread(request: web.Request, p: Principal | None) -> int:
    if p is None:
        return 0
    async with request.app[DB]() as db:
        return await notify.unread_count(db, p.account_id)


async def context(request: web.Request) -> dict[str, Any]:
    p: Principal | None = request.get(PRINCIPAL)
    return {
        "me": p,
        "csrf_token": request.get(CSRF, ""),
        "nav": nav_for(p),
        "unread_notifications": await _unread(request, p),
        "path": request.path,
        "query": request.query,
        "role_names": ROLE_NAMES,
        "labels": LABELS,
    }


def setup_filters(env: jinja2.Environment, config: Config) -> None:
    tz = config.tz

    def local(value: datetime | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
        return "" if value is None else value.astimezone(tz).strftime(fmt)

    def compact(value: object) -> str:
        """A value as one line of JSON, keeping Vietnamese letters; the page escapes it."""
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    env.globals["max_len_of"] = max_len_of
    env.filters["local"] = local
    env.filters["num"] = number
    env.filters["compact"] = compact


def render_error(
    request: web.Request, status: int, message: str, fields: dict[str, str] | None = None
) -> web.StreamResponse:
    """The error page: the message, and the bad inputs by name as the API's `fields`."""
    data = {"status": status, "message": message, "fields": fields or {}}
    return aiohttp_jinja2.render_template("error.html", request, data, status=status)


def error_html(env: jinja2.Environment, status: int, message: str) -> str:
    """The error page outside any request (no account, no navigation)."""
    data = {"status": status, "message": message, "fields": {}, "nav": [], "path": "/"}
    return env.get_template("error.html").render(data)


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(PRINCIPAL) is not None:
        return redirect(safe_next(request.query.get("next", "/")))
    return _login_page(request, "", request.query.get("next", "/"), 200)


def _login_page(
    request: web.Request, error: str, nxt: str, status: int, username: str = ""
) -> web.StreamResponse:
    token = auth.new_prelogin_token()
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {"error": error, "next": safe_next(nxt), "prelogin": token, "username": username},
        status=status,
    )
    cfg = request.app[CONFIG]
    response.set_cookie(
        auth.PRELOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=cfg.cookie_secure,
        path="/login",
    )
    return response


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await inbound.form(request)
    nxt = str(form.get("next", "/"))
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    cookie = inbound.cookie(request, auth.PRELOGIN_COOKIE) or ""
    if not cookie or cookie != str(form.get("prelogin", "")):
        return _login_page(
            request, "Phiên đăng nhập đã hết hạn, vui lòng thử lại.", nxt, 400, username
        )
    if not username.strip() or not password:
        return _login_page(request, "Vui lòng nhập tên đăng nhập và mật khẩu.", nxt, 422, username)
    outcome = await auth.login(request, username, password)
    metrics, cfg = request.app[METRICS], request.app[CONFIG]
    if outcome.locked:
        metrics.logins.labels("locked").inc()
        return _login_page(request, auth.failure_message(outcome, cfg), nxt, 429, username)
    if outcome.account is None:
        metrics.logins.labels("failed").inc()
        return _login_page(request, auth.failure_message(outcome, cfg), nxt, 401, username)
    metrics.logins.labels("ok").inc()
    response = redirect(safe_next(nxt))
    auth.set_session_cookie(response, request, outcome.token)
    response.del_cookie(auth.PRELOGIN_COOKIE, path="/login")
    return response


@requires(None)
async def logout(request: web.Request) -> web.StreamResponse:
    await auth.logout(request)
    response = redirect("/login")
    response.del_cookie(auth.COOKIE, path="/")
    return response


@requires(None)
@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict[str, Any]:
    p = principal(request)
    return {
        "roles": [ROLE_NAMES[r] for r in sorted(p.roles)],
        "cards": [n for n in nav_for(p) if n.href != "/"],
    }


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/", home)
