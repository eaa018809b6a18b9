"""What a person notices on first use: the answers in our words, not the framework's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import Caller, Login
from tests.web.rawhttp import raw_request


async def test_an_overlong_url_gets_our_page(client: TestClient[Any, Any]) -> None:
    reply = await raw_request(client, "GET", "/cases?q=" + "a" * 9000)
    text = reply.body.decode()
    assert reply.status == 400
    assert reply.headers["content-type"].startswith("text/html")
    assert "quá dài" in text and '<html lang="vi">' in text, text
    assert "Got more than" not in text and "aaaa" not in text
    assert int(reply.headers["content-length"]) == len(reply.body)  # a browser reads that much


async def test_an_overlong_header_gets_our_page(client: TestClient[Any, Any]) -> None:
    reply = await raw_request(client, "GET", "/", [(b"X-Long", b"b" * 9000)])
    text = reply.body.decode()
    assert reply.status == 400 and "quá dài" in text and "Got more than" not in text


async def test_a_malformed_request_line_gets_our_page(client: TestClient[Any, Any]) -> None:
    reply = await raw_request(client, "GET", "/a b c")
    text = reply.body.decode()
    assert reply.status == 400 and "sai cú pháp" in text, text


@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/me", "/static/css/app.css", "/nope"])
async def test_the_server_header_names_no_versions(client: TestClient[Any, Any], path: str) -> None:
    async with client.get(path) as resp:
        assert resp.headers["Server"] == "tiepdan"


async def test_a_parse_error_names_no_versions_either(client: TestClient[Any, Any]) -> None:
    reply = await raw_request(client, "GET", "/" + "c" * 9000)
    assert reply.headers["server"] == "tiepdan"


async def test_invalid_json_says_where_in_vietnamese(as_user: Login) -> None:
    officer: Caller = await as_user("officer")
    reply = await officer.call(
        "POST",
        "/api/v1/citizens",
        data=b'{"full_name": "An",\n  "unit_id": }',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert reply.error_fields["body"] == "không phải JSON hợp lệ (dòng 2, cột 14)"


async def test_the_favicon_is_served_and_linked(client: TestClient[Any, Any]) -> None:
    async with client.get("/favicon.ico") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert (await resp.text()).startswith("<svg")
    async with client.get("/login") as resp:
        page = await resp.text()
    href = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert href is not None, page[:500]
    async with client.get(href.group(1)) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"


async def test_a_failed_form_post_never_leaves_a_405_behind(as_user: Login) -> None:
    # The finding: a failed password form left the browser at a POST-only URL; asking it
    # again (Enter in the address bar, history) answered "Lỗi 405".
    admin = await as_user("admin")
    path = "/admin/accounts/2/password"
    failed = await admin.call("POST", path, data={"password": "ngắn", "csrf_token": admin.csrf})
    assert failed.status == 422, failed.text[:2000]
    again = await admin.get(path)
    assert again.status == 303 and again.headers["Location"] == "/admin/accounts/2"
    for resource in admin.client.app.router.resources():
        path = resource.canonical
        if not path.startswith(("/api/", "/static")) and "POST" in {r.method for r in resource}:
            filled = re.sub(r"\{[^}]+\}", "3", path)
            reply = await admin.get(filled)
            assert reply.status != 405, (path, reply.status)


TABLE = re.compile(r"<table.*?</table>", re.S)
# The calendar grid is never empty: every day of the month or week has its cell.
ALWAYS_FULL = {"calendar.html"}


def test_every_list_table_has_an_empty_state_row() -> None:
    # Tables whose rows come from a loop say so when there are none (ui.empty, or a row the
    # script removes); the readiness figure tables and the calendar grid are always full.
    templates = Path(__file__).resolve().parents[2] / "web" / "templates"
    missing = []
    for path in sorted(templates.rglob("*.html")):
        for table in TABLE.findall(path.read_text()):
            looped = "{% for" in table or 'id="export-rows"' in table
            name = str(path.relative_to(templates))
            if (
                looped
                and name not in ALWAYS_FULL
                and not re.search(r"ui.empty\(|Chưa có|{% if not ", table)
            ):
                missing.append(name)
    assert not missing, f"add {{{{ ui.empty(items, columns, text) }}}} to: {missing}"


async def test_no_export_button_when_nothing_was_recorded(as_user: Login) -> None:
    officer = await as_user("officer")
    page = await officer.get("/sessions/1")
    assert page.status == 200, page.text[:1000]
    assert "data-export-url" not in page.text
    assert "Chưa có bản ghi hình để xuất." in page.text and "Chưa có lần xuất nào." in page.text
