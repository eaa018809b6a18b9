"""The server-rendered pages, through the aiohttp test client (no browser): who may see what,
forms with CSRF, bad input, withheld identities, escaping."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from sessions.access import ROLE_PERMISSIONS, Perm
from sessions.db import DatabaseConfig, create_engine, session_factory, transaction
from sessions.models import Account, AuditRecord, Endpoint, Role, Unit
from tests.minutes_kit import final_minutes_elsewhere
from tests.support import login
from web.config import Config
from web.http import PERM_ATTR
from web.keys import DB

Client = TestClient[Any, Any]

DEMO_ROLES = {
    "admin": Role.ADMIN,
    "chair": Role.LEADER,
    "officer": Role.RECEPTION_OFFICER,
    "focal1": Role.FOCAL_STAFF,
    "focal2": Role.FOCAL_STAFF,
    "archivist": Role.ARCHIVIST,
    "auditor": Role.AUDITOR,
}
# A concrete path for each dynamic page route: the first seeded row of its kind.
SAMPLE_IDS = {"{id}": "1", "{copy_id}": "1"}
FORBIDDEN = "Không có quyền truy cập"
DENOUNCER = "Vũ Đức Cường"  # party to the seeded denunciation HS-MAU-003 (case 3)
DENOUNCER_ID_NUMBER = "036078009876"


async def count(config: Config, model: Any, *where: Any) -> int:
    engine = create_engine(DatabaseConfig(url=config.database.url))
    try:
        async with session_factory(engine)() as db:
            stmt = select(func.count()).select_from(model)
            return int(await db.scalar(stmt.where(*where)) or 0)
    finally:
        await engine.dispose()


async def audit_count(config: Config, action: str) -> int:
    return await count(config, AuditRecord, AuditRecord.action == action)


async def text_of(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, allow_redirects=False)
    body = await resp.text()
    assert resp.status == status, f"{path}: {resp.status}\n{body[:2000]}"
    return body


async def post_form(
    client: Client, path: str, data: list[tuple[str, str]], csrf: str | None
) -> tuple[int, str, str]:
    fields = [*data, ("csrf_token", csrf)] if csrf is not None else data
    resp = await client.post(path, data=fields, allow_redirects=False)
    return resp.status, resp.headers.get("Location", ""), await resp.text()


def page_routes(client: Client, method: str = "GET") -> list[tuple[str, Perm | None]]:
    """Every page route of `method` that needs a signed-in account, with its permission."""
    out: list[tuple[str, Perm | None]] = []
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        perm: Perm | str | None = getattr(route.handler, PERM_ATTR, "public")
        skip = path.startswith(("/api/", "/static")) or path == "/logout"
        if route.method != method or skip or perm == "public":
            continue
        assert perm is None or isinstance(perm, Perm), (path, perm)
        for key, value in SAMPLE_IDS.items():
            path = path.replace(key, value)
        out.append((path, perm))
    return sorted(out, key=lambda r: r[0])


# Who may see what ----------------------------------------------------------------------------


async def _minutes_one(client: Client) -> None:
    """Minutes #1 (final, of a case heard in another, ended session) for the minutes pages."""
    async with transaction(client.app[DB]) as db:
        assert await final_minutes_elsewhere(db) == 1


@pytest.mark.parametrize("username", sorted(DEMO_ROLES))
async def test_every_page_by_role(client: Client, username: str) -> None:
    await _minutes_one(client)
    await login(client, username)
    routes = page_routes(client)
    assert len(routes) >= 12, routes
    perms = ROLE_PERMISSIONS[DEMO_ROLES[username]]
    for path, perm in routes:
        allowed = perm is None or perm in perms
        body = await text_of(client, path, 200 if allowed else 403)
        assert (FORBIDDEN in body) is not allowed, path
        assert 'lang="vi"' in body


@pytest.mark.parametrize("username", sorted(DEMO_ROLES))
async def test_every_form_post_by_role(client: Client, config: Config, username: str) -> None:
    """An empty form: refused (403) for a role without the permission, else bad input (422);
    either way nothing is written."""
    await _minutes_one(client)
    csrf = await login(client, username)
    routes = page_routes(client, "POST")
    assert len(routes) >= 7, routes
    perms = ROLE_PERMISSIONS[DEMO_ROLES[username]]
    audit_rows = await count(config, AuditRecord)
    for path, perm in routes:
        allowed = perm is None or perm in perms
        status, _, body = await post_form(client, path, [], csrf)
        assert status == (422 if allowed else 403), (path, body[:500])
        assert (FORBIDDEN in body) is not allowed, path
    assert await count(config, AuditRecord) == audit_rows


async def test_a_commune_account_sees_only_its_commune(client: Client) -> None:
    csrf = await login(client, "admin")
    leader = [(k, "4" if k == "unit_id" else v) for k, v in NEW_ACCOUNT if k != "roles"]
    leader.append(("roles", "leader"))  # of Xã Tân Phú
    status, _, body = await post_form(client, "/admin/accounts", leader, csrf)
    assert status == 303, body
    await login(client, "canbo.moi", "mat-khau-du-dai")
    body = await text_of(client, "/cases")
    assert "HS-MAU-001" in body and "Tổng số: 1" in body  # Xã Tân Phú's own case only
    await text_of(client, "/cases/2", 404)  # Phường Hòa Bình's
    body = await text_of(client, "/citizens")
    assert "Nguyễn Văn An" in body and "Trần Thị Bích" not in body
    assert "Tổng số: 0" in await text_of(client, "/sessions")  # the province's session
    await text_of(client, "/sessions/1", 404)


async def test_nav_shows_only_what_the_role_may_open(client: Client) -> None:
    await login(client, "focal1")
    body = await text_of(client, "/")
    assert "Xin chào, Lê Văn Đức" in body
    assert 'href="/sessions"' in body
    for hidden in ("/cases", "/citizens", "/admin/accounts", "/audit"):
        assert f'href="{hidden}"' not in body


async def test_signed_out_goes_to_login(client: Client) -> None:
    resp = await client.get("/cases?kind=denunciation", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=/cases%3Fkind%3Ddenunciation"


async def test_unknown_id_and_bad_paging(client: Client) -> None:
    await login(client, "officer")
    assert "Không tìm thấy" in await text_of(client, "/cases/9999", 404)
    assert "Tham số không hợp lệ" in await text_of(client, "/cases?page=abc", 422)
    assert "Tham số không hợp lệ" in await text_of(client, "/cases?kind=nope", 422)


# Sessions -----------------------------------------------------------------------------------


async def _put_denunciation_on_agenda(client: Client) -> None:
    csrf = await login(client, "officer")
    resp = await client.patch(
        "/api/v1/sessions/1",
        json={"agenda": [{"case_id": 3, "endpoint_id": 2, "citizen_ids": [3]}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 200, await resp.text()
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})


async def test_session_list_and_detail_in_local_time(client: Client) -> None:
    await login(client, "chair")
    body = await text_of(client, "/sessions")
    assert "Tiếp công dân định kỳ tháng (mẫu)" in body
    assert "08:30 25/11/2026" in body  # 01:30 UTC, shown in Asia/Ho_Chi_Minh
    assert "Đã lên lịch" in body and "Định kỳ" in body
    assert "Tổng số: 1" in await text_of(client, "/sessions?q=dinh+ky")
    assert "Tổng số: 0" in await text_of(client, "/sessions?state=live")
    detail = await text_of(client, "/sessions/1")
    for text in (
        "08:30 25/11/2026 – 11:30 25/11/2026",
        "Nguyễn Văn Minh",
        "Điểm cầu trung tâm – Ban Tiếp công dân tỉnh",
        "Điểm cầu xã Tân Phú",
        "Điểm cầu phường Hòa Bình",
    ):
        assert text in detail


async def test_session_agenda_withholds_the_denouncer(client: Client) -> None:
    await _put_denunciation_on_agenda(client)
    await login(client, "focal1")
    body = await text_of(client, "/sessions/1")
    assert "HS-MAU-003" in body and "Đã ẩn" in body
    assert DENOUNCER not in body
    assert 'href="/cases/3"' not in body  # focal staff cannot open case files
    # The chair, cleared, sees it withheld here too (revealed on the case page, with a reason).
    await login(client, "chair")
    body = await text_of(client, "/sessions/1")
    assert DENOUNCER not in body and "Đã ẩn" in body and 'href="/cases/3"' in body


# Cases and citizens -------------------------------------------------------------------------


async def test_case_list_search_and_filters(client: Client) -> None:
    await login(client, "archivist")
    body = await text_of(client, "/cases")
    assert "Tổng số: 3" in body and "Khiếu nại" in body and "Tố cáo" in body
    body = await text_of(client, "/cases?kind=denunciation")
    assert "HS-MAU-003" in body and "HS-MAU-001" not in body
    assert '<option value="denunciation" selected>' in body
    body = await text_of(client, "/cases?q=thu+hoi+dat")  # no diacritics
    assert "HS-MAU-001" in body and "Tổng số: 1" in body
    assert "Tổng số: 0" in await text_of(client, "/cases?status=settled")


async def test_case_detail_withheld_for_uncleared(client: Client, config: Config) -> None:
    await login(client, "archivist")
    body = await text_of(client, "/cases/3")
    assert "Đã ẩn" in body and "chưa được cấp quyền" in body
    assert DENOUNCER not in body and DENOUNCER_ID_NUMBER not in body
    assert await audit_count(config, "identity.view") == 0


async def test_case_detail_cleared_view_is_revealed_on_asking(
    client: Client, config: Config
) -> None:
    """Not on arrival: the cleared chair sees it withheld and "Xem danh tính"; revealing
    asks why, shows the identity in that answer only, and writes one record."""
    csrf = await login(client, "chair")
    body = await text_of(client, "/cases/3")
    assert DENOUNCER not in body and DENOUNCER_ID_NUMBER not in body
    assert "Xem danh tính" in body and 'action="/cases/3/reveal"' in body
    assert await audit_count(config, "identity.view") == 0
    status, _, body = await post_form(client, "/cases/3/reveal", [("reason", "")], csrf)
    assert status == 422 and 'id="err-reason"' in body and DENOUNCER not in body
    assert await audit_count(config, "identity.view") == 0
    status, _, body = await post_form(
        client, "/cases/3/reveal", [("reason", "Chuẩn bị phiên tiếp")], csrf
    )
    assert status == 200 and DENOUNCER in body and DENOUNCER_ID_NUMBER in body
    assert "đã được ghi vào nhật ký" in body
    assert await audit_count(config, "identity.view") == 1
    assert DENOUNCER not in await text_of(client, "/cases/3")  # a reload hides it again
    await text_of(client, "/cases/1")  # not protected: no identity.view
    assert await audit_count(config, "identity.view") == 1


async def test_citizens_masked_and_searchable(client: Client) -> None:
    await login(client, "archivist")
    body = await text_of(client, "/citizens")
    assert "Nguyễn Văn An" in body and "Trần Thị Bích" in body
    # A denouncer is not listed at all to an account not cleared: not even a masked row.
    assert "Tổng số: 2" in body
    assert DENOUNCER not in body and DENOUNCER_ID_NUMBER not in body
    body = await text_of(client, "/citizens?q=nguyen+van+an")
    assert "Nguyễn Văn An" in body and "Tổng số: 1" in body
    assert "Tổng số: 0" in await text_of(client, "/citizens?q=vu+duc+cuong")
    # The cleared officer finds the row, withheld (revealed on the case page).
    await login(client, "officer")
    body = await text_of(client, "/citizens")
    assert DENOUNCER not in body and "Tổng số: 3" in body and "Đã ẩn" in body


# Admin forms --------------------------------------------------------------------------------


NEW_ACCOUNT = [
    ("username", "canbo.moi"),
    ("full_name", "Ngô Thị Lan"),
    ("title", "Chuyên viên"),
    ("email", ""),
    ("phone", ""),
    ("unit_id", "1"),
    ("roles", "reception_officer"),
    ("roles", "archivist"),
    ("endpoint_id", ""),
    ("password", "mat-khau-du-dai"),
]


async def test_admin_creates_and_edits_an_account(client: Client, config: Config) -> None:
    csrf = await login(client, "admin")
    status, location, body = await post_form(client, "/admin/accounts", NEW_ACCOUNT, csrf)
    assert status == 303, body
    assert re.fullmatch(r"/admin/accounts/\d+\?saved=1", location)
    body = await text_of(client, location)
    assert "Ngô Thị Lan" in body and "Đã lưu." in body
    assert await audit_count(config, "account.create") == 1
    edit = [(k, v) for k, v in NEW_ACCOUNT if k not in ("username", "password", "roles")]
    edit += [("roles", "leader"), ("active", "on")]
    status, _, body = await post_form(client, location.split("?")[0], edit, csrf)
    assert status == 303, body
    assert await audit_count(config, "account.roles") == 1
    async with SignedInAs(client, "canbo.moi", "mat-khau-du-dai") as page:
        assert "Lãnh đạo chủ trì" in page


class SignedInAs:
    """Sign in as another account for the duration of a block; yields its home page."""

    def __init__(self, client: Client, username: str, password: str) -> None:
        self.client, self.username, self.password = client, username, password

    async def __aenter__(self) -> str:
        await login(self.client, self.username, self.password)
        return await text_of(self.client, "/")

    async def __aexit__(self, *exc: object) -> None:
        self.client.session.cookie_jar.clear()


async def test_account_form_bad_input_is_422_and_writes_nothing(
    client: Client, config: Config
) -> None:
    csrf = await login(client, "admin")
    before = await count(config, Account)
    cases = [
        ("password", "short", "tối thiểu 10 ký tự"),
        ("username", "admin", "đã tồn tại"),
        ("username", "Không Hợp Lệ", "chỉ gồm chữ thường không dấu"),
        ("full_name", "", "bắt buộc"),
        ("unit_id", "abc", "phải là số nguyên dương"),
    ]
    for field, value, message in cases:
        data = [(k, value if k == field else v) for k, v in NEW_ACCOUNT]
        status, _, body = await post_form(client, "/admin/accounts", data, csrf)
        assert status == 422, (field, body[:500])
        assert f'<span class="field-error" id="err-{field}">{message}' in body, field
        assert "Ngô Thị Lan" in body or field == "full_name"  # the form keeps what was typed
        assert "mat-khau-du-dai" not in body  # never a password back into the page
    no_roles = [(k, v) for k, v in NEW_ACCOUNT if k != "roles"]
    status, _, body = await post_form(client, "/admin/accounts", no_roles, csrf)
    assert status == 422 and "cần ít nhất một vai trò" in body
    focal = [*no_roles, ("roles", "focal_staff")]
    status, _, body = await post_form(client, "/admin/accounts", focal, csrf)
    assert status == 422 and "Cán bộ đầu mối phải gắn với một điểm cầu" in body
    assert await count(config, Account) == before
    assert await audit_count(config, "account.create") == 0


async def test_missing_or_wrong_csrf_is_refused(client: Client, config: Config) -> None:
    await login(client, "admin")
    before = await count(config, Account)
    for token in (None, "not-the-token"):
        status, _, body = await post_form(client, "/admin/accounts", NEW_ACCOUNT, token)
        assert status == 403 and "CSRF" in body
    assert await count(config, Account) == before


async def test_password_reset(client: Client, config: Config) -> None:
    csrf = await login(client, "admin")
    pw = [("password", "mat-khau-moi-123"), ("password_again", "khac-han-hoan-toan")]
    status, _, body = await post_form(client, "/admin/accounts/3/password", pw, csrf)
    assert status == 422 and "không khớp" in body
    pw[1] = ("password_again", "mat-khau-moi-123")
    status, location, _ = await post_form(client, "/admin/accounts/3/password", pw, csrf)
    assert (status, location) == (303, "/admin/accounts/3?password=1")
    assert await audit_count(config, "account.password") == 1
    async with SignedInAs(client, "officer", "mat-khau-moi-123") as page:
        assert "Trần Thị Hồng Nhung" in page


async def test_units_tree_create_edit_and_escaping(client: Client, config: Config) -> None:
    csrf = await login(client, "admin")
    evil = "<script>alert(1)</script> Xã Mới"
    data = [("name", evil), ("code", "X-MOI"), ("level_code", "commune"), ("parent_id", "1")]
    status, location, body = await post_form(client, "/admin/units", data, csrf)
    assert (status, location) == (303, "/admin/units?saved=1"), body
    body = await text_of(client, location)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Xã Mới" in body
    assert "<script>alert" not in body
    assert await audit_count(config, "unit.create") == 1
    unit_id = await count(config, Unit)
    edit = [("name", "Xã Mới"), ("code", "X-MOI"), ("level_code", "commune")]  # active unchecked
    status, _, body = await post_form(client, f"/admin/units/{unit_id}", edit, csrf)
    assert status == 303, body
    body = await text_of(client, "/admin/units")
    assert "Ngừng hoạt động" in body and "Xã Mới" in body
    dup = [("name", "Trùng"), ("code", "X-TP"), ("level_code", "commune"), ("parent_id", "1")]
    status, _, body = await post_form(client, "/admin/units", dup, csrf)
    assert status == 422 and "đã tồn tại" in body
    assert await count(config, Unit) == unit_id


async def test_endpoints_create_edit_and_one_central(client: Client, config: Config) -> None:
    csrf = await login(client, "admin")
    data = [("name", "Điểm cầu xã Đông Hưng 2"), ("unit_id", "6"), ("location", "Nhà văn hóa")]
    status, _, body = await post_form(client, "/admin/endpoints", data, csrf)
    assert status == 303, body
    assert "Điểm cầu xã Đông Hưng 2" in await text_of(client, "/admin/endpoints")
    central = [*data, ("is_central", "on")]
    status, _, body = await post_form(client, "/admin/endpoints", central, csrf)
    assert status == 422 and "chỉ có một điểm cầu trung tâm" in body
    status, _, body = await post_form(client, "/admin/endpoints", [("name", "")], csrf)
    assert status == 422 and 'id="err-unit_id">bắt buộc' in body
    assert await count(config, Endpoint) == 5
    edit = [("name", "Điểm cầu xã Tân Phú (mới)"), ("unit_id", "4"), ("active", "on")]
    status, location, body = await post_form(client, "/admin/endpoints/2", edit, csrf)
    assert (status, location) == (303, "/admin/endpoints/2?saved=1"), body
    assert "Điểm cầu xã Tân Phú (mới)" in await text_of(client, location)
    assert await audit_count(config, "endpoint.update") == 1


# Audit log and paging -------------------------------------------------------------------------


async def test_audit_page_filters_by_action(client: Client) -> None:
    await login(client, "chair")
    await login(client, "auditor")
    body = await text_of(client, "/audit?action=login")
    assert "Đăng nhập" in body and "chair" in body and "Tổng số: 2" in body
    assert "Tổng số: 0" in await text_of(client, "/audit?action=account.roles")


async def test_paging_keeps_the_filters(client: Client) -> None:
    await login(client, "admin")
    body = await text_of(client, "/admin/accounts?per_page=3&q=")
    assert "Trang 1/3" in body
    assert 'href="/admin/accounts?per_page=3&amp;page=2"' in body
    body = await text_of(client, "/admin/accounts?per_page=3&page=3")
    assert "Trang 3/3" in body and 'rel="prev"' in body and 'rel="next"' not in body
