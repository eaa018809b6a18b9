"""Minutes on pages and through the API: the officer writes (every error at once, next to
its field, nothing written), typed HTML stays text, the chair finalizes with a confirmation,
a final version refuses edits (409) and its hash verifies; the PDF (read back by pdftotext
and pdfinfo) and the DOCX (read back by python-docx) are A4 with Decree 30's margins, name
the citizen with diacritics, and leave a protected identity out for whoever is not cleared;
a machine without the font says what to install."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import docx
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from sessions.access import WITHHELD
from sessions.db import transaction
from sessions.models import AuditRecord, Minutes, Unit
from tests.minutes_kit import COMPLAINANT, DENOUNCER, Heard, ended_session
from tests.support import login
from tests.web.conftest import Login
from web.app import create_app
from web.config import Config
from web.keys import DB
from web.paper.minutes import SECRET_TEXT

Client = TestClient[Any, Any]
MM = 72 / 25.4  # points per millimetre
SCRIPT = "<script>alert('x')</script>"

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)


async def _heard(client: Client) -> Heard:
    async with transaction(client.app[DB]) as db:
        return await ended_session(db)


async def _page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, allow_redirects=False)
    body = await resp.text()
    assert resp.status == status, f"{path}: {resp.status}\n{body[:3000]}"
    return body


async def _post(
    client: Client, path: str, csrf: str, pairs: list[tuple[str, str]]
) -> tuple[int, str, str]:
    data = [("csrf_token", csrf), *pairs]
    resp = await client.post(path, data=data, allow_redirects=False)
    return resp.status, resp.headers.get("Location", ""), await resp.text()


async def _bytes(client: Client, path: str) -> bytes:
    resp = await client.get(path, allow_redirects=False)
    body = await resp.read()
    assert resp.status == 200, (path, resp.status, body[:500])
    return body


async def _count(client: Client) -> int:
    async with client.app[DB]() as db:
        return int(await db.scalar(select(func.count()).select_from(Minutes)) or 0)


async def _unit(client: Client, code: str) -> int:
    async with client.app[DB]() as db:
        unit = await db.scalar(select(Unit.id).where(Unit.code == code))
        assert unit is not None
        return int(unit)


def _pdf_text(pdf: bytes, *args: str) -> str:
    out = subprocess.run(
        ["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    return out.stdout.decode("utf-8")


def _pdfinfo(pdf: bytes) -> bytes:
    return subprocess.run(
        ["pdfinfo", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout


def _docx_text(body: bytes) -> tuple[str, Any]:
    d = docx.Document(io.BytesIO(body))
    parts = [p.text for p in d.paragraphs]
    for table in d.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts), d


async def _write(client: Client, csrf: str, item: int | None, **fields: str) -> int:
    pairs = [(k, v) for k, v in fields.items()]
    if item is not None:
        pairs.append(("agenda_item_id", str(item)))
    status, location, body = await _post(client, "/sessions/1/minutes/edit", csrf, pairs)
    assert status == 303, body[:3000]
    match = re.fullmatch(r"/minutes/([0-9]+)\?saved=1", location)
    assert match, location
    return int(match[1])


async def test_written_with_every_error_at_once_then_finalized_and_locked(
    client: Client, as_user: Login
) -> None:
    heard = await _heard(client)
    sonn = await _unit(client, "SNNMT")
    csrf = await login(client, "officer")
    session_page = await _page(client, "/sessions/1")
    assert 'href="/sessions/1/minutes"' in session_page
    index = await _page(client, "/sessions/1/minutes")
    assert "Chưa lập biên bản." in index and "HS-MAU-001" in index
    form = html.unescape(
        await _page(client, f"/sessions/1/minutes/edit?item={heard.complaint_item}")
    )
    assert "Phần hệ thống điền sẵn" in form and COMPLAINANT in form
    assert "Sở Nông nghiệp và Môi trường" in form  # the directions' unit choices

    # Every problem at once, each next to its field, and nothing written.
    bad = [
        ("agenda_item_id", str(heard.complaint_item)),
        ("presented", "x" * 20_001),
        ("dir_unit_id", ""),
        ("dir_text", "Việc chưa có đơn vị"),
        ("dir_due_on", "2026-02-30"),
        ("dir_unit_id", str(sonn)),
        ("dir_text", "  "),
        ("dir_due_on", ""),
    ]
    status, _, body = await _post(client, "/sessions/1/minutes/edit", csrf, bad)
    assert status == 422, body[:2000]
    text = html.unescape(body)
    for key, words in (
        ("presented", "tối đa 20000 ký tự"),
        ("directions[0].unit_id", "hãy chọn đơn vị thực hiện"),
        ("directions[0].due_on", "ngày 2026-02-30 không tồn tại"),
        ("directions[1].text", "hãy ghi nội dung chỉ đạo"),
    ):
        assert re.search(rf'id="err-{re.escape(key)}">{words}<', text), (key, words)
    assert "Việc chưa có đơn vị" in text  # what was typed is shown again
    assert await _count(client) == 0

    mid = await _write(
        client,
        csrf,
        heard.complaint_item,
        presented=f"{SCRIPT} Công dân đề nghị xem xét lại việc thu hồi đất.",
        documents_received="Bản sao quyết định thu hồi đất, 3 trang.",
        conclusions="Giao Sở Nông nghiệp và Môi trường kiểm tra, trả lời công dân.",
        dir_unit_id=str(sonn),
        dir_text="Kiểm tra hồ sơ thu hồi đất, trả lời công dân bằng văn bản",
        dir_due_on="2026-12-31",
    )
    page = await _page(client, f"/minutes/{mid}")
    assert SCRIPT not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert COMPLAINANT in html.unescape(page) and "31/12/2026" in page
    assert f'action="/minutes/{mid}/finalize"' not in page  # the officer does not

    status, _, body = await _post(client, f"/minutes/{mid}/finalize", csrf, [("confirm", "on")])
    assert status == 403, body[:1000]
    csrf = await login(client, "chair")
    page = await _page(client, f"/minutes/{mid}")
    assert f'action="/minutes/{mid}/finalize"' in page
    status, _, body = await _post(client, f"/minutes/{mid}/finalize", csrf, [])
    assert status == 422 and "hãy đánh dấu xác nhận hoàn tất biên bản" in html.unescape(body)
    status, location, _ = await _post(client, f"/minutes/{mid}/finalize", csrf, [("confirm", "on")])
    assert (status, location) == (303, f"/minutes/{mid}?finalized=1")
    page = html.unescape(await _page(client, f"/minutes/{mid}"))
    assert "Khớp nội dung đã niêm phong" in page

    # Final: the form's post and the API's PATCH are refused with 409; nothing changes.
    csrf = await login(client, "officer")
    edit = [("minutes_id", str(mid)), ("agenda_item_id", str(heard.complaint_item))]
    status, _, body = await _post(
        client, "/sessions/1/minutes/edit", csrf, [*edit, ("conclusions", "Sửa.")]
    )
    assert status == 409 and "đã hoàn tất" in html.unescape(body)
    officer = await as_user("officer")
    reply = await officer.patch(f"/api/v1/minutes/{mid}", {"conclusions": "Sửa."})
    assert reply.status == 409, reply.body
    reply = await officer.get("/api/v1/sessions/1/minutes")
    assert reply.status == 200, reply.body
    [version] = reply.body["items"]
    assert version["id"] == mid and version["version"] == 1 and version["state"] == "locked"
    assert re.fullmatch("[0-9a-f]{64}", version["sha256"]) and version["verified"] is True
    assert version["agenda_item_id"] == heard.complaint_item
    one = await officer.get(f"/api/v1/minutes/{mid}")
    assert one.body["conclusions"].startswith("Giao Sở") and one.body["sha256"] == version["sha256"]
    bad_format = await officer.get(f"/api/v1/minutes/{mid}?format=xls")
    assert bad_format.status == 400 and "format" in bad_format.error_fields

    # A new version supersedes the final one; the case file lists both.
    reply = await officer.post(
        "/api/v1/sessions/1/minutes", {"agenda_item_id": heard.complaint_item}
    )
    assert reply.status == 201 and reply.body["supersedes_id"] == mid and reply.body["version"] == 2
    chair = await as_user("chair")
    assert (await chair.post(f"/api/v1/minutes/{reply.body['id']}/finalize")).status == 200
    await login(client, "officer")  # the API callers above leave the client's cookies empty
    case_page = html.unescape(await _page(client, f"/cases/{heard.complaint}"))
    assert "Biên bản và thông báo kết luận" in case_page and "phiên bản 2" in case_page
    assert "đã được thay thế" in case_page
    notice = html.unescape(await _page(client, f"/minutes/{mid}/notice"))
    assert "THÔNG BÁO" in notice and "Kết luận việc tiếp công dân" in notice
    assert COMPLAINANT in notice and "Sở Nông nghiệp và Môi trường (thực hiện);" in notice


async def _final_minutes(client: Client, heard: Heard) -> int:
    csrf = await login(client, "officer")
    mid = await _write(
        client,
        csrf,
        heard.complaint_item,
        presented=f"{SCRIPT} Công dân Nguyễn Văn An trình bày việc thu hồi đất. " * 40,
        conclusions="Giao Sở kiểm tra, trả lời công dân.",
    )
    csrf = await login(client, "chair")
    status, _, _ = await _post(client, f"/minutes/{mid}/finalize", csrf, [("confirm", "on")])
    assert status == 303
    return mid


@needs_poppler
async def test_the_pdf_is_a4_with_the_decree_margins_and_the_name(client: Client) -> None:
    mid = await _final_minutes(client, await _heard(client))
    pdf = await _bytes(client, f"/minutes/{mid}/download?format=pdf")
    assert pdf.startswith(b"%PDF")
    info = _pdfinfo(pdf)
    assert re.search(rb"Page size:\s+595\.2\d? x 841\.8\d? pts \(A4\)", info), info
    assert int(re.search(rb"Pages:\s+([0-9]+)", info)[1]) >= 2  # type: ignore[index]
    text = _pdf_text(pdf)
    assert COMPLAINANT in text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text and "BIÊN BẢN" in text
    assert SCRIPT in text  # typed HTML is text, written as it was typed
    assert re.search(r"Số: [0-9]+/BB-TCD", text) and "Nơi nhận:" in text
    # Where the words sit: 30 mm from the left, 15 mm from the right (justified lines reach
    # it), 20 mm top and bottom; the page numbers of later pages sit in the top margin.
    bbox = _pdf_text(pdf, "-bbox")
    pages = bbox.split("<page ")[1:]
    word = re.compile(r'xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)"')
    for n, page in enumerate(pages, 1):
        boxes = [tuple(map(float, m)) for m in word.findall(page)]
        body = [b for b in boxes if b[1] > 20 * MM - 1]
        assert min(b[0] for b in boxes) >= 30 * MM - 0.5, n
        assert max(b[2] for b in boxes) <= 595.28 - 15 * MM + 0.5, n
        assert max(b[3] for b in body) <= 841.89 - 20 * MM + 0.5, n
        if n == 1:
            assert min(b[0] for b in boxes) <= 35 * MM  # left margin 30–35 mm
            assert max(b[2] for b in boxes) >= 595.28 - 20 * MM  # right margin 15–20 mm
            assert 20 * MM - 1 <= min(b[1] for b in boxes) <= 25 * MM  # top 20–25 mm


async def test_the_docx_is_a4_in_times_new_roman(client: Client) -> None:
    mid = await _final_minutes(client, await _heard(client))
    text, d = _docx_text(await _bytes(client, f"/minutes/{mid}/download?format=docx"))
    section = d.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.page_height.mm) == 297
    assert round(section.left_margin.mm) == 30 and round(section.right_margin.mm) == 15
    assert round(section.top_margin.mm) == 20 and round(section.bottom_margin.mm) == 20
    assert d.styles["Normal"].font.name == "Times New Roman"
    assert d.styles["Normal"].font.size.pt == 14
    assert COMPLAINANT in text and SCRIPT in text and "Độc lập - Tự do - Hạnh phúc" in text


@needs_poppler
async def test_a_protected_identity_is_absent_for_whoever_may_not_see_it(
    client: Client,
) -> None:
    heard = await _heard(client)
    csrf = await login(client, "officer")
    general = await _write(client, csrf, None, presented="Buổi tiếp diễn ra đúng kế hoạch.")
    secret = await _write(
        client, csrf, heard.denunciation_item, presented="Nội dung tố cáo Qxsecret chi tiết."
    )
    for username in ("archivist", "officer"):  # not cleared; cleared but not asking
        await login(client, username)
        for mid in (general, secret):
            page = html.unescape(await _page(client, f"/minutes/{mid}"))
            pdf = _pdf_text(await _bytes(client, f"/minutes/{mid}/download?format=pdf"))
            word, _ = _docx_text(await _bytes(client, f"/minutes/{mid}/download?format=docx"))
            api = await client.get(f"/api/v1/minutes/{mid}")
            for where, body in (
                ("page", page),
                ("pdf", pdf),
                ("docx", word),
                ("api", await api.text()),
            ):
                assert DENOUNCER not in body, (username, mid, where)
                if where != "api":
                    assert WITHHELD in body.replace("\n", " "), (username, mid, where)
            if username == "archivist" and mid == secret:
                assert "Qxsecret" not in page + pdf + word and SECRET_TEXT in page
    # The cleared officer reveals, saying why: shown once, audited.
    csrf = await login(client, "officer")
    status, _, body = await _post(
        client, f"/minutes/{general}/reveal", csrf, [("reason", "Ký biên bản gửi lãnh đạo")]
    )
    assert status == 200 and DENOUNCER in html.unescape(body)
    resp = await client.post(
        f"/minutes/{general}/reveal",
        data={"csrf_token": csrf, "reason": "In biên bản để ký", "format": "pdf"},
    )
    assert resp.status == 200 and DENOUNCER in _pdf_text(await resp.read())
    async with client.app[DB]() as db:
        views = await db.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == "identity.view")
        )
    assert views == 2
    status, _, body = await _post(client, f"/minutes/{general}/reveal", csrf, [("reason", "")])
    assert status == 422 and DENOUNCER not in html.unescape(body)


async def test_roles_on_every_minutes_route(client: Client, as_user: Login) -> None:
    heard = await _heard(client)
    csrf = await login(client, "officer")
    mid = await _write(client, csrf, heard.complaint_item, presented="Nội dung.")
    focal = await as_user("focal1")
    for path in ("/sessions/1/minutes", f"/minutes/{mid}", f"/api/v1/minutes/{mid}"):
        assert (await focal.get(path)).status == 403, path
    archivist = await as_user("archivist")
    assert (await archivist.get(f"/minutes/{mid}")).status == 200
    assert (
        await archivist.get(f"/sessions/1/minutes/edit?item={heard.complaint_item}")
    ).status == 403
    reply = await archivist.call(
        "POST", "/sessions/1/minutes/edit", data={"csrf_token": archivist.csrf}
    )
    assert reply.status == 403
    assert (await archivist.patch(f"/api/v1/minutes/{mid}", {"body": "x"})).status == 403
    assert (await archivist.post(f"/api/v1/minutes/{mid}/finalize")).status == 403
    officer = await as_user("officer")
    reply = await officer.post(f"/api/v1/minutes/{mid}/finalize")
    assert reply.status == 403  # the chair of the session finalizes
    chair = await as_user("chair")
    assert (await chair.post(f"/api/v1/minutes/{mid}/finalize")).status == 200


async def test_without_a_font_the_page_says_what_to_install(
    aiohttp_client: Any, config: Config, clock: Any, tmp_path: Path
) -> None:
    from tests.conftest import seed

    await seed(config.database.url, clock.now)
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    client = await aiohttp_client(create_app(replace(config, document_font_dir=empty), clock))
    await _heard(client)
    csrf = await login(client, "officer")
    mid = await _write(client, csrf, None, presented="Nội dung.")
    page = html.unescape(await _page(client, f"/minutes/{mid}"))
    assert "TIEPDAN_DOCUMENT_FONT_DIR" in page
    body = html.unescape(await _page(client, f"/minutes/{mid}/download?format=pdf", 503))
    assert "Traceback" not in body and "phông" in body
    api = await client.get(f"/api/v1/minutes/{mid}?format=pdf")
    assert api.status == 503 and "font" in (await api.json())["error"]["fields"]
    assert (await client.get(f"/minutes/{mid}/download?format=docx")).status == 200
