"""Headers, cookies and form bodies as text: the one place the app decodes them.

aiohttp hands header bytes over decoded as UTF-8 with `surrogateescape`, so bytes that are
not UTF-8 arrive as lone surrogates, which no database, hash or response can encode; and it
decodes a form body strictly, raising UnicodeDecodeError. Every reader of a header, a cookie
or a form goes through here (a test holds web/ to it). A header or cookie that is not clean
text counts as absent: a bad session cookie is no sign-in, a bad CSRF token is a wrong one, a
bad User-Agent is none; a form that is not text is a 400 naming `body`.
"""

from __future__ import annotations

import re

from aiohttp import web
from multidict import MultiDictProxy

from web.errors import BadRequest

# Lone surrogates (undecodable bytes) and control characters other than tab.
_UNCLEAN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
# RFC 6265 cookie-octet, and the visible ASCII a token may hold.
_COOKIE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_TOKEN = re.compile(r"[\x21-\x7e]*")


def clean(text: str) -> str:
    """Text that can be stored, logged and sent back: undecodable bytes and control
    characters become U+FFFD."""
    return _UNCLEAN.sub("\ufffd", text)


def header(request: web.Request, name: str, max_len: int = 1000) -> str | None:
    """The header as text; None when it is absent, is not UTF-8, holds control characters
    or is longer than `max_len`."""
    raw = request.headers.get(name)
    if raw is None or len(raw) > max_len or _UNCLEAN.search(raw):
        return None
    return raw


def token(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """A header that carries a token (CSRF): visible ASCII only, else None."""
    raw = header(request, name, max_len)
    return raw if raw is not None and _TOKEN.fullmatch(raw) else None


def has(request: web.Request, name: str) -> bool:
    """Whether the header was sent at all, readable or not."""
    return name in request.headers


def cookie(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """The cookie's value when it is made of RFC 6265 cookie-octets (ASCII); anything else
    is as if it had not been sent."""
    raw = request.cookies.get(name)
    if raw is None or len(raw) > max_len or not _COOKIE.fullmatch(raw):
        return None
    return raw


def user_agent(request: web.Request, max_len: int = 300) -> str:
    """The User-Agent to store beside a login session, cut to `max_len`; "" when absent or
    not clean text."""
    return (header(request, "User-Agent", 8192) or "")[:max_len]


async def form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form (urlencoded or multipart); BadRequest naming `body` when its bytes
    are not text in the form's charset or it is not the form it says it is."""
    try:
        return await request.post()
    except UnicodeDecodeError:
        raise BadRequest(
            "Dữ liệu biểu mẫu không đọc được.", {"body": "không phải văn bản UTF-8"}
        ) from None
    except (ValueError, LookupError):  # a multipart without its boundary; an unknown charset
        raise BadRequest(
            "Dữ liệu biểu mẫu không đọc được.", {"body": "không đúng định dạng biểu mẫu"}
        ) from None
