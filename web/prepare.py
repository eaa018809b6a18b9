"""The last touch on every answer, in one place: the `Server` header, and aiohttp's own answer to a request it cannot parse (a URL or header line longer than the
parser takes, a malformed request line) in our words, as the app's error page.

Such a request never reaches the router or the middlewares: aiohttp's RequestHandler answers
it from `handle_error` with English text that quotes the first 100 bytes of the bad line. The
one hook it passes through is the request factory (it builds a request even for the error, so
that the answer can be prepared), and a request's `_prepare_hook` runs before the answer's
headers are sent: there an unrouted 400 gets our page instead, and every answer (pages, API,
static files, WebSockets, these errors) its `Server` header, which would otherwise name the
Python and aiohttp versions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from web.pages.numbers import number

# aiohttp's parser limits (its defaults): a request line, a header's name, a header's value.
MAX_LINE_BYTES = 8190

TOO_LONG = (
    f"Địa chỉ (URL) hoặc một tiêu đề của yêu cầu quá dài: tối đa {number(MAX_LINE_BYTES)} byte."
)
MALFORMED = "Yêu cầu HTTP sai cú pháp nên máy chủ không đọc được."

SERVER = "tiepdan"

Render = Callable[[int, str], str]


def message_for(english: str) -> str:
    return TOO_LONG if english.startswith("Got more than") else MALFORMED


def install(app: web.Application, render: Render) -> None:
    """Make every request of `app` one whose unrouted 400 (a parse error) is `render`ed and
    whose answer names the server as just "tiepdan"."""
    make = app._make_request

    class ParsedRequest(web.Request):
        async def _prepare_hook(self, response: web.StreamResponse) -> None:
            response.headers["Server"] = SERVER
            unrouted = self._match_info is None and response.status == 400
            if unrouted and isinstance(response, web.Response):
                english = response.text or ""
                response.content_type = "text/html"
                response.charset = "utf-8"
                page = render(400, message_for(english)).encode("utf-8")
                response.body = page
                # The headers were prepared before this hook: the length is the new body's.
                response.headers["Content-Length"] = str(len(page))
            await super()._prepare_hook(response)

    def factory(
        message: Any,
        payload: Any,
        protocol: Any,
        writer: Any,
        task: asyncio.Task[None],
        _cls: type[web.Request] = ParsedRequest,
    ) -> web.Request:
        return make(message, payload, protocol, writer, task, _cls=_cls)

    # The app's own request factory, which aiohttp hands to its server; setting it is the
    # only way in short of replacing web.run_app's runner.
    app._make_request = factory  # type: ignore[method-assign]
