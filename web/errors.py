"""Domain errors and bad requests into HTTP answers: JSON under /api, a page elsewhere."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from sessions.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooMany

log = logging.getLogger("tiepdan.web")

STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, Invalid: 422, TooMany: 429}


class Unauthorized(DomainError):
    code = "unauthorized"


class BadRequest(DomainError):
    code = "bad_request"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class Unavailable(DomainError):
    """Something this machine lacks (a font, a tool): the message says what to install."""

    code = "unavailable"


STATUS |= {
    Unauthorized: 401,
    BadRequest: 400,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unavailable: 503,
}


def status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def json_text(data: Any) -> str:
    """JSON with Vietnamese letters as they are, and any lone surrogate (a client may send
    one escaped, in a field's name, say) escaped as JSON writes it, so the answer can be
    encoded: with ensure_ascii=False json.dumps leaves it raw, and UTF-8 refuses it."""
    text = json.dumps(data, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_error(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=json_text(error_body(code, message, fields)),
        content_type="application/json",
    )


# aiohttp's own HTTP errors (no such route, wrong method, body too large) in our words.
HTTP_MESSAGES = {
    404: ("not_found", "Không tìm thấy địa chỉ này."),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ cho địa chỉ này."),
    413: ("payload_too_large", "Dữ liệu gửi lên quá lớn."),
}


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")
