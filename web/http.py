"""Small pieces every handler uses: who is calling, what they may do, JSON answers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, unquote, urlsplit

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


# C0 and C1 controls and DEL; among them the tab and newlines that browsers strip from a URL
# before parsing it (WHATWG URL), so that "/\t/evil.example" becomes "//evil.example".
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _site_path(form: str) -> bool:
    parts = urlsplit(form)
    return (
        form.startswith("/")
        and not form.startswith("//")
        and "\\" not in form
        and not _URL_CONTROL.search(form)
        and not parts.scheme
        and not parts.netloc
    )


def safe_next(value: str) -> str:
    """Where to send the browser after signing in: `value` when it is a path on this site,
    else "/". Browsers read "\\" as "/" and "//host" as another site, so the value and each
    of its percent-decoded forms must start with exactly one "/" and hold no backslash, no
    control character, no scheme and no host. Every `next` read goes through here."""
    form = value
    for _ in range(4):  # nobody encodes a link four times over but an attacker
        if not _site_path(form):
            return "/"
        decoded = unquote(form)
        if decoded == form:
            # Non-ASCII letters (a path with Vietnamese text) percent-encoded for the header.
            return quote(value, safe="/?#&=+%:@!$'()*,;~-._[]")
        form = decoded
    return "/"
