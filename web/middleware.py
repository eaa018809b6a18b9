"""Request id, structured logging, metrics, errors, sign-in and CSRF, in that order."""

from __future__ import annotations

import logging
import re
import secrets
import time
from urllib.parse import quote

from aiohttp import web

from sessions.errors import DomainError
from web import auth, inbound
from web.errors import HTTP_MESSAGES, Unauthorized, error_body, is_api, json_error, status_of
from web.http import Handler, redirect
from web.keys import CONFIG, METRICS, PRINCIPAL, REQUEST_ID

log = logging.getLogger("tiepdan.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Script login goes by JSON (a cross-site form cannot send it); the form login checks its own
# double-submit token.
CSRF_EXEMPT = frozenset({"/api/v1/auth/login", "/login"})


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = inbound.header(request, "X-Request-ID") or ""
    rid = supplied if _REQUEST_ID.match(supplied) else secrets.token_hex(8)
    request[REQUEST_ID] = rid
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - start
        metrics = request.app[METRICS]
        route = _route(request)
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        p = request.get(PRINCIPAL)
        log.info(
            "request",
            extra={
                "event": {
                    "request_id": rid,
                    "method": request.method,
                    "path": inbound.clean(request.path),
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                    "account": p.username if p else None,
                }
            },
        )


def _page(
    request: web.Request, status: int, message: str, fields: dict[str, str] | None = None
) -> web.StreamResponse:
    from web.pages import render_error

    return render_error(request, status, message, fields)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unauthorized as exc:
        if is_api(request):
            return json_error(401, exc.code, exc.message, exc.fields)
        return redirect(f"/login?next={quote(request.path_qs)}")
    except DomainError as exc:
        if is_api(request):
            return json_error(status_of(exc), exc.code, exc.message, exc.fields)
        return _page(request, status_of(exc), exc.message, exc.fields)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.status in HTTP_MESSAGES:
            code, message = HTTP_MESSAGES[exc.status]
            if is_api(request):
                return json_error(exc.status, code, message)
            return _page(request, exc.status, message)
        raise
    except Exception:
        log.exception("unhandled error", extra={"event": {"request_id": request.get(REQUEST_ID)}})
        if is_api(request):
            return web.json_response(
                error_body("internal", "Lỗi hệ thống. Mã yêu cầu: " + request.get(REQUEST_ID, "")),
                status=500,
            )
        return _page(request, 500, "Lỗi hệ thống. Vui lòng thử lại hoặc báo quản trị viên.")


def _with_body_limit(request: web.Request) -> web.Request:
    """An upload route (`web.documents.upload_route`) reads a batch of documents, larger
    than the app's `max_body_bytes`; the CSRF check below reads that body too."""
    from web.documents import UPLOAD_ATTR, body_limit

    route_handler = request.match_info.handler
    if not getattr(route_handler, UPLOAD_ATTR, False) or request.method != "POST":
        return request
    limit = body_limit(request.app[CONFIG].max_document_bytes)
    return request.clone(client_max_size=max(limit, request.client_max_size))


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    await auth.load_principal(request)
    request = _with_body_limit(request)
    if request.method in auth.UNSAFE and request.path not in CSRF_EXEMPT:
        if request.get(PRINCIPAL) is None:
            raise Unauthorized("Bạn cần đăng nhập.")
        supplied = inbound.token(request, "X-CSRF-Token")
        if not inbound.has(request, "X-CSRF-Token") and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            supplied = str((await inbound.form(request)).get("csrf_token", ""))
        if not auth.csrf_ok(request, supplied):
            from sessions.errors import Forbidden

            raise Forbidden(
                "Thiếu hoặc sai mã chống giả mạo (CSRF). Hãy tải lại trang.",
                {"X-CSRF-Token": "thiếu hoặc không khớp"},
            )
    return await handler(request)
