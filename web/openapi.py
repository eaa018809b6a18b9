"""The OpenAPI 3.1 description of /api/v1, served at GET /api/v1/openapi.json.

One entry per route in `OPERATIONS`, next to the others: method, path, summary, the request
body (the handler's own set of known fields, so the two cannot drift apart) and what it
answers. The permission of each operation is not written here: it is read from the handler
the router holds (`@requires`/`@public`), so the description says what the code enforces.
tests/web/test_openapi.py fails when a route of the router is not described here, or a
described route does not exist: a new route is one more `Op(...)` line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sessions.access import Perm
from web.api.cases import CASE_FIELDS, CITIZEN_FIELDS
from web.api.directory import ACCOUNT_FIELDS, ENDPOINT_FIELDS, UNIT_FIELDS
from web.api.minutes import CREATE_FIELDS, REVEAL_FIELDS, SAVE_FIELDS
from web.api.receptions import SESSION_FIELDS
from web.api.schedule import CALENDAR_FIELDS, CHECK_FIELDS
from web.http import PERM_ATTR, ok, public

JSON = "application/json"
PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class Op:
    method: str
    path: str  # as the router's canonical form: /api/v1/sessions/{id}
    summary: str
    body: frozenset[str] | None = None  # the fields the handler knows (its Fields(...) set)
    returns: str = "object"  # "object", "page", "empty", or a media type (text/calendar...)
    status: int = 200
    partial: bool = False  # PATCH: every field optional
    upload: bool = False  # a multipart form of files ("file", repeated) and a "description"


def _known(fields: Iterable[str]) -> frozenset[str]:
    return frozenset(fields)


LOGIN = _known({"username", "password"})
CLEARANCE = _known({"account_id"})
REVEAL = _known({"reason"})
RECORDING = _known({"active"})
EXPORT = _known({"case_id"})

OPERATIONS: tuple[Op, ...] = (
    Op("GET", "/api/v1/openapi.json", "Mô tả OpenAPI 3.1 của API này"),
    # Signing in
    Op("POST", "/api/v1/auth/login", "Đăng nhập (trả về mã CSRF và cookie phiên)", LOGIN),
    Op("POST", "/api/v1/auth/logout", "Đăng xuất"),
    Op("GET", "/api/v1/auth/me", "Tài khoản đang đăng nhập"),
    # Directory
    Op("GET", "/api/v1/units", "Danh sách đơn vị", returns="page"),
    Op("POST", "/api/v1/units", "Tạo đơn vị", _known(UNIT_FIELDS), status=201),
    Op("GET", "/api/v1/units/{id}", "Một đơn vị"),
    Op("PATCH", "/api/v1/units/{id}", "Sửa đơn vị", _known(UNIT_FIELDS), partial=True),
    Op("GET", "/api/v1/endpoints", "Danh sách điểm cầu", returns="page"),
    Op("POST", "/api/v1/endpoints", "Tạo điểm cầu", _known(ENDPOINT_FIELDS), status=201),
    Op("GET", "/api/v1/endpoints/{id}", "Một điểm cầu"),
    Op("PATCH", "/api/v1/endpoints/{id}", "Sửa điểm cầu", _known(ENDPOINT_FIELDS), partial=True),
    Op("GET", "/api/v1/accounts", "Danh sách tài khoản", returns="page"),
    Op("POST", "/api/v1/accounts", "Tạo tài khoản", _known(ACCOUNT_FIELDS), status=201),
    Op("GET", "/api/v1/accounts/{id}", "Một tài khoản"),
    Op("PATCH", "/api/v1/accounts/{id}", "Sửa tài khoản", _known(ACCOUNT_FIELDS), partial=True),
    Op("GET", "/api/v1/audit", "Nhật ký hệ thống", returns="page"),
    # Citizens and cases
    Op("GET", "/api/v1/citizens", "Danh sách công dân", returns="page"),
    Op("POST", "/api/v1/citizens", "Tạo công dân", _known(CITIZEN_FIELDS), status=201),
    Op("GET", "/api/v1/citizens/{id}", "Một công dân"),
    Op("POST", "/api/v1/citizens/{id}/reveal", "Xem danh tính được bảo mật (nêu lý do)", REVEAL),
    Op("PATCH", "/api/v1/citizens/{id}", "Sửa công dân", _known(CITIZEN_FIELDS), partial=True),
    Op("GET", "/api/v1/cases", "Danh sách hồ sơ vụ việc", returns="page"),
    Op("POST", "/api/v1/cases", "Tạo hồ sơ vụ việc", _known(CASE_FIELDS), status=201),
    Op("GET", "/api/v1/cases/{id}", "Một hồ sơ vụ việc"),
    Op("POST", "/api/v1/cases/{id}/reveal", "Xem danh tính được bảo mật (nêu lý do)", REVEAL),
    Op("PATCH", "/api/v1/cases/{id}", "Sửa hồ sơ vụ việc", _known(CASE_FIELDS), partial=True),
    Op("POST", "/api/v1/cases/{id}/clearances", "Cấp quyền xem danh tính", CLEARANCE, status=201),
    Op("GET", "/api/v1/cases/{id}/clearances", "Những người được cấp quyền xem danh tính"),
    Op(
        "DELETE",
        "/api/v1/cases/{id}/clearances/{account_id}",
        "Thu hồi quyền xem danh tính",
        returns="empty",
        status=204,
    ),
    Op(
        "POST",
        "/api/v1/cases/{id}/documents",
        "Nhận tài liệu công dân nộp",
        upload=True,
        status=201,
    ),
    Op("GET", "/api/v1/cases/{id}/documents", "Tài liệu của hồ sơ"),
    Op(
        "GET",
        "/api/v1/documents/{id}/download",
        "Tải một tài liệu",
        returns="application/octet-stream",
    ),
    Op(
        "POST",
        "/api/v1/citizens/duplicates",
        "Công dân có thể trùng",
        _known(CITIZEN_FIELDS | {"exclude_id"}),
    ),
    # Sessions and scheduling
    Op("GET", "/api/v1/sessions", "Danh sách phiên tiếp công dân", returns="page"),
    Op("POST", "/api/v1/sessions", "Lên lịch phiên", _known(SESSION_FIELDS), status=201),
    Op("GET", "/api/v1/sessions/{id}", "Một phiên"),
    Op(
        "PATCH",
        "/api/v1/sessions/{id}",
        "Sửa, dời, hủy phiên",
        _known(SESSION_FIELDS),
        partial=True,
    ),
    Op("GET", "/api/v1/sessions/{id}/readiness", "Sẵn sàng của các điểm cầu của phiên"),
    Op(
        "POST",
        "/api/v1/endpoints/{id}/readiness-checks",
        "Gửi kết quả kiểm tra kết nối",
        _known(CHECK_FIELDS),
        status=201,
    ),
    Op("GET", "/api/v1/calendar-days", "Ngày nghỉ, ngày làm bù trong năm"),
    Op("PUT", "/api/v1/calendar-days/{date}", "Đặt một ngày nghỉ, làm bù", _known(CALENDAR_FIELDS)),
    Op("DELETE", "/api/v1/calendar-days/{date}", "Bỏ một ngày khỏi lịch"),
    Op("GET", "/api/v1/calendar.ics", "Lịch phiên (iCalendar)", returns="text/calendar"),
    Op("GET", "/api/v1/calendar/link", "Đường dẫn lịch có chữ ký, để đăng ký lịch"),
    Op(
        "GET",
        "/api/v1/calendar/{token}.ics",
        "Lịch theo đường dẫn có chữ ký",
        returns="text/calendar",
    ),
    Op("GET", "/api/v1/readiness", "Bảng sẵn sàng của các điểm cầu"),
    Op(
        "GET",
        "/api/v1/readiness/stream",
        "Bảng sẵn sàng, đẩy liên tục",
        returns="text/event-stream",
    ),
    Op("GET", "/api/v1/reports/leader-duties", "Số ngày tiếp công dân của lãnh đạo"),
    Op("GET", "/api/v1/notifications", "Thông báo của tôi", returns="page"),
    Op("POST", "/api/v1/notifications/{id}/read", "Đánh dấu đã đọc"),
    # The day: open, room, close
    Op("POST", "/api/v1/sessions/{id}/open", "Mở phiên"),
    Op("POST", "/api/v1/sessions/{id}/close", "Đóng phiên"),
    Op(
        "GET", "/api/v1/sessions/{id}/bridge", "Vào phòng (WebSocket báo hiệu)", returns="websocket"
    ),
    Op(
        "GET",
        "/api/v1/endpoints/{id}/readiness-bridge",
        "Kiểm tra kết nối qua cầu (WebSocket)",
        returns="websocket",
    ),
    Op("GET", "/api/v1/sessions/{id}/figures", "Chỉ số chất lượng đường truyền của phiên"),
    Op("GET", "/api/v1/sessions/{id}/events", "Diễn biến của phiên"),
    # Recording and exports
    Op("POST", "/api/v1/sessions/{id}/recording", "Bắt đầu, dừng ghi hình", RECORDING),
    Op("GET", "/api/v1/sessions/{id}/recordings", "Bản ghi của phiên"),
    Op("GET", "/api/v1/recordings/{id}/download", "Tải, xem lại bản ghi", returns="video/*"),
    Op("GET", "/api/v1/cases/{id}/recordings", "Bản ghi của hồ sơ"),
    Op("GET", "/api/v1/recordings", "Danh sách bản ghi (lọc theo phiên, hồ sơ)", returns="page"),
    Op(
        "GET",
        "/api/v1/recordings/{id}/media",
        "Phát lại bản ghi (yêu cầu theo khoảng byte; kho S3: chuyển tới URL ký sẵn)",
        returns="video/*",
    ),
    Op("GET", "/api/v1/sessions/{id}/timeline", "Dòng thời gian của phiên để phát lại"),
    Op("GET", "/api/v1/archive/sessions", "Tìm phiên trong kho lưu trữ", returns="page"),
    Op("POST", "/api/v1/sessions/{id}/exports", "Yêu cầu xuất video tổng hợp", EXPORT, status=202),
    Op("GET", "/api/v1/exports/{id}", "Tiến độ một lần xuất"),
    Op("GET", "/api/v1/exports/{id}/download", "Tải video tổng hợp", returns="video/mp4"),
    Op(
        "POST",
        "/api/v1/cases/{id}/bundle",
        "Đóng gói hồ sơ bàn giao (ZIP: biên bản, video, tài liệu, bảng kê)",
        _known({"parts"}),
        status=202,
    ),
    Op("GET", "/api/v1/bundles/{id}", "Tiến độ đóng gói hồ sơ"),
    Op("GET", "/api/v1/bundles/{id}/download", "Tải gói hồ sơ", returns="application/zip"),
    # Minutes and conclusion notices
    Op("GET", "/api/v1/sessions/{id}/minutes", "Các phiên bản biên bản của phiên"),
    Op(
        "POST",
        "/api/v1/sessions/{id}/minutes",
        "Lập biên bản (phiên bản mới, thay thế bản đã hoàn tất)",
        _known(CREATE_FIELDS),
        status=201,
    ),
    Op("GET", "/api/v1/minutes/{id}", "Một phiên bản biên bản (JSON, ?format=pdf|docx)"),
    Op("PATCH", "/api/v1/minutes/{id}", "Sửa bản nháp biên bản", _known(SAVE_FIELDS), partial=True),
    Op("POST", "/api/v1/minutes/{id}/finalize", "Hoàn tất biên bản (người chủ trì)"),
    Op(
        "POST",
        "/api/v1/minutes/{id}/reveal",
        "Biên bản kèm danh tính được bảo mật (nêu lý do)",
        _known(REVEAL_FIELDS),
    ),
    Op(
        "GET",
        "/api/v1/minutes/{id}/notice",
        "Thông báo kết luận việc tiếp công dân (?format=pdf|docx)",
        returns="application/pdf",
    ),
)


# --- the schema of a request body, from the names of its fields -------------------------

_BOOLEAN = {"active", "is_central", "audio_level_seen"}
_NUMBER = {"rtt_ms", "loss_pct", "jitter_ms", "bitrate_kbps", "fps"}
_INTEGER = {"width", "height", "revision"}
_DATETIME = {"starts_at", "ends_at"}
_ARRAYS: dict[str, dict[str, Any]] = {
    "roles": {"type": "array", "items": {"type": "string"}},
    "endpoint_ids": {"type": "array", "items": {"type": "integer"}},
    "parties": {"type": "array", "items": {"type": "object"}},
    "attendees": {"type": "array", "items": {"type": "object"}},
    "agenda": {"type": "array", "items": {"type": "object"}},
    "directions": {"type": "array", "items": {"type": "object"}},
    "parts": {"type": "array", "items": {"enum": ["minutes", "video", "documents"]}},
}


def field_schema(name: str) -> dict[str, Any]:
    if name in _ARRAYS:
        return _ARRAYS[name]
    if name in _BOOLEAN:
        return {"type": "boolean"}
    if name in _NUMBER:
        return {"type": "number"}
    if name in _INTEGER or name.endswith("_id"):
        return {"type": "integer"}
    if name in _DATETIME:
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def _body(op: Op) -> dict[str, Any]:
    assert op.body is not None
    schema = {
        "type": "object",
        "properties": {name: field_schema(name) for name in sorted(op.body)},
        "additionalProperties": False,
    }
    return {"required": True, "content": {JSON: {"schema": schema}}}


# --- answers ------------------------------------------------------------------------------

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "fields"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string", "description": "Tiếng Việt"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Trường sai (tên trường → vấn đề)",
                        },
                    },
                }
            },
        },
        "Page": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"type": "object"}}},
        },
    },
    "securitySchemes": {
        "session": {"type": "apiKey", "in": "cookie", "name": "tiepdan_session"},
        "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
    },
}
_ERROR = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _success(op: Op) -> dict[str, Any]:
    if op.returns == "websocket":
        return {"101": {"description": "Chuyển sang WebSocket"}}
    if op.returns == "empty":
        return {str(op.status): {"description": "Thành công"}}
    if op.returns in ("object", "page"):
        schema = (
            {"$ref": "#/components/schemas/Page"} if op.returns == "page" else {"type": "object"}
        )
        return {
            str(op.status): {"description": "Thành công", "content": {JSON: {"schema": schema}}}
        }
    return {str(op.status): {"description": "Thành công", "content": {op.returns: {}}}}


def _parameters(path: str) -> list[dict[str, Any]]:
    params = []
    for part in path.split("/"):
        name = part[part.find("{") + 1 : part.find("}")] if "{" in part else ""
        if name:
            kind = {"type": "integer"} if name == "id" else {"type": "string"}
            params.append({"name": name, "in": "path", "required": True, "schema": kind})
    return params


def _operation(op: Op, perm: Perm | str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method.lower()}_{op.path.removeprefix(PREFIX)}",
        "parameters": _parameters(op.path),
        "responses": {**_success(op), "4XX": {"description": "Yêu cầu bị từ chối", **_ERROR}},
        "x-permission": perm.value if isinstance(perm, Perm) else (perm or "signed-in"),
    }
    if perm == "public":
        out["security"] = []
    elif op.method in ("POST", "PUT", "PATCH", "DELETE"):
        out["security"] = [{"session": [], "csrf": []}]
    if op.body is not None:
        out["requestBody"] = _body(op)
    if op.upload:
        files = {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        }
        props = {"file": files, "description": {"type": "string"}}
        schema = {"type": "object", "properties": props, "required": ["file"]}
        out["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    return out


def router_permissions(app: web.Application) -> dict[tuple[str, str], Perm | str | None]:
    """(method, path) of every /api/v1 route of the router, with its handler's permission."""
    out: dict[tuple[str, str], Perm | str | None] = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(PREFIX + "/") and route.method != "HEAD":
            out[route.method, path] = getattr(route.handler, PERM_ATTR, None)
    return out


def document(app: web.Application) -> dict[str, Any]:
    perms = router_permissions(app)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        perm = perms.get((op.method, op.path))
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, perm)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tiepdan: tiếp công dân trực tuyến",
            "version": "1",
            "description": "API JSON của hệ thống. Lỗi luôn có dạng Error, thông điệp bằng "
            "tiếng Việt; x-permission là quyền mà máy chủ đòi cho thao tác.",
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": COMPONENTS,
    }


@public
async def openapi_json(request: web.Request) -> web.StreamResponse:
    return ok(document(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json)
