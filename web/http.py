"""Small pieces every handler uses: who is calling, what they may do, JSON answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web

from sessions.access import Perm, Principal
from web.errors import Unauthorized, json_text
from web.keys import PRINCIPAL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PERM_ATTR = "tiepdan_perm"


def principal(request: web.Request) -> Principal:
    p: Principal | None = request.get(PRINCIPAL)
    if p is None:
        raise Unauthorized("Bạn cần đăng nhập.")
    return p


def requires(perm: Perm | None) -> Callable[[Handler], Handler]:
    """Only a signed-in account holding `perm` (any signed-in account when None) gets in.
    The permission is kept on the handler so the role × route test can read it."""

    def deco(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            p = principal(request)
            if perm is not None:
                p.require(perm)
            return await handler(request)

        setattr(wrapped, PERM_ATTR, perm)
        return wrapped

    return deco


def public(handler: Handler) -> Handler:
    setattr(handler, PERM_ATTR, "public")
    return handler


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json_text(data), content_type="application/json")


def redirect(location: str) -> web.Response:
    """A 303 See Other: after a form post the browser fetches the next page with GET."""
    return web.Response(status=303, headers={"Location": location})
