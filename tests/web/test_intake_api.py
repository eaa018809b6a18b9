"""Intake through the JSON API: duplicates, the person denounced, a group's representatives,
documents handed in (type by content, size, empty, never overwritten) and clearances."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import AuditRecord, CaseDocument, CaseFile, Citizen, Unit
from tests.conftest import seed
from tests.support import FakeClock
from tests.web.conftest import Caller, Login, Reply, sign_in
from tests.web.routekit import snapshot
from web.app import create_app
from web.config import Config
from web.keys import DB

Client = TestClient[Any, Any]
LIMIT = 64 * 1024
PDF = b"%PDF-1.4\n" + b"1 0 obj << >> endobj\n" * 40 + b"%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def config(config: Config) -> Config:
    """The test config, with a document limit small enough to cross cheaply."""
    return dataclasses.replace(config, max_document_bytes=LIMIT)


async def ids(client: Client) -> dict[str, int]:
    async with client.app[DB]() as db:
        cits = {c.full_name: c.id for c in await db.scalars(select(Citizen))}
        cases = {c.code: c.id for c in await db.scalars(select(CaseFile))}
    return {"an": cits["Nguyễn Văn An"], "cuong": cits["Vũ Đức Cường"]} | {
        "ordinary": cases["HS-MAU-001"],
        "denunciation": cases["HS-MAU-003"],
    }


async def new_officer(as_user: Login, username: str = "officer2") -> Caller:
    """A reception officer of the province, cleared for nothing."""
    admin = await as_user("admin")
    async with admin.client.app[DB]() as db:
        root = await db.scalar(select(Unit.id).where(Unit.parent_id.is_(None)))
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": username,
            "full_name": "Cán bộ Mới",
            "unit_id": root,
            "roles": ["reception_officer"],
            "password": "mat-khau-du-dai",
        },
    )
    assert reply.status == 201, reply.body
    return await as_user(username, "mat-khau-du-dai")


async def root_unit(client: Client) -> int:
    async with client.app[DB]() as db:
        root = await db.scalar(select(Unit.id).where(Unit.parent_id.is_(None)))
    assert root is not None
    return int(root)


def stored_documents(config: Config) -> list[Path]:
    root = Path(config.storage_url.removeprefix("file://"))
    kinds = {".pdf", ".png", ".jpg", ".tif"}  # not the store's own sidecar files
    return sorted(
        p for p in root.rglob("*") if p.is_file() and "documents" in p.parts and p.suffix in kinds
    )


async def upload(caller: Caller, case_id: int, *files: tuple[str, bytes]) -> Reply:
    form = FormData()
    for name, data in files:
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    form.add_field("description", "Bản sao quyết định")
    return await caller.call("POST", f"/api/v1/cases/{case_id}/documents", data=form)


# Duplicates ---------------------------------------------------------------------------------


async def test_duplicates_by_id_number_or_by_name_and_address(
    client: Client, as_user: Login
) -> None:
    the = await ids(client)
    officer = await as_user("officer")
    by_id = await officer.post("/api/v1/citizens/duplicates", {"id_number": "036085001234"})
    assert [c["id"] for c in by_id.body["items"]] == [the["an"]]
    # Diacritics and case ignored, on the name and on the address.
    loose = {"full_name": "NGUYEN van an", "address": "thon dong, XA TAN PHU"}
    found = await officer.post("/api/v1/citizens/duplicates", loose)
    assert [c["id"] for c in found.body["items"]] == [the["an"]]
    elsewhere = {"full_name": "Nguyễn Văn An", "address": "Thôn Tây, xã Tân Phú"}
    assert (await officer.post("/api/v1/citizens/duplicates", elsewhere)).body["items"] == []


async def test_a_protected_citizen_is_no_duplicate_to_an_uncleared_account(
    client: Client, as_user: Login
) -> None:
    the = await ids(client)
    stranger = await new_officer(as_user)
    before = await snapshot(client)
    for body in (
        {"id_number": "036078009876"},
        {"full_name": "Vũ Đức Cường", "address": "Thôn Nam, xã Tân Phú"},
    ):
        reply = await stranger.post("/api/v1/citizens/duplicates", body)
        assert reply.status == 200 and reply.body["items"] == [], reply.body
        assert "036078009876" not in reply.text
    assert await snapshot(client) == before  # nothing audited either: nothing was shown
    cleared = await as_user("officer")
    reply = await cleared.post("/api/v1/citizens/duplicates", {"id_number": "036078009876"})
    assert [c["id"] for c in reply.body["items"]] == [the["cuong"]]


# Roles and groups -----------------------------------------------------------------------------


def _case(unit: int, parties: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "denunciation",
        "subject_area": "land",
        "title": "Tố cáo cán bộ",
        "handling_unit_id": unit,
        "parties": parties,
        **extra,
    }


async def test_person_denounced_is_a_role_the_database_keeps(
    client: Client, as_user: Login
) -> None:
    the = await ids(client)
    officer = await as_user("officer")
    unit = await root_unit(client)
    parties = [{"citizen_id": the["an"], "role": "denounced"}]
    reply = await officer.post("/api/v1/cases", _case(unit, parties))
    assert reply.status == 201, reply.body
    shown = await officer.get(f"/api/v1/cases/{reply.body['id']}")
    assert [p["role"] for p in shown.body["parties"]] == ["denounced"]


async def _citizens(officer: Caller, unit: int, n: int) -> list[int]:
    out = []
    for i in range(n):
        reply = await officer.post(
            "/api/v1/citizens", {"full_name": f"Người Thứ {i}", "unit_id": unit}
        )
        assert reply.status == 201, reply.body
        out.append(reply.body["id"])
    return out


@pytest.mark.parametrize(
    ("size", "reps", "fits"),
    [(7, 2, True), (7, 3, False), (7, 0, False), (12, 5, True), (12, 6, False), (3, 3, True)],
)
async def test_representatives_of_a_group(
    client: Client, as_user: Login, size: int, reps: int, fits: bool
) -> None:
    officer = await as_user("officer")
    unit = await root_unit(client)
    people = await _citizens(officer, unit, reps)
    parties = [{"citizen_id": c, "role": "representative"} for c in people]
    before = await snapshot(client)
    reply = await officer.post(
        "/api/v1/cases", _case(unit, parties, kind="complaint", group_size=size)
    )
    if fits:
        assert reply.status == 201, reply.body
        assert reply.body["group_size"] == size
    else:
        assert reply.status == 422, reply.body
        assert "người đại diện" in reply.error_fields["group_size"]
        assert await snapshot(client) == before


async def test_an_edit_that_breaks_the_group_rule_is_refused(
    client: Client, as_user: Login
) -> None:
    officer = await as_user("officer")
    unit = await root_unit(client)
    people = await _citizens(officer, unit, 3)
    parties = [{"citizen_id": c, "role": "representative"} for c in people]
    reply = await officer.post("/api/v1/cases", _case(unit, parties, kind="complaint"))
    assert reply.status == 201, reply.body
    case_id = reply.body["id"]
    refused = await officer.patch(f"/api/v1/cases/{case_id}", {"group_size": 8})
    assert refused.status == 422 and "group_size" in refused.error_fields
    assert (await officer.get(f"/api/v1/cases/{case_id}")).body["group_size"] is None
    fine = await officer.patch(f"/api/v1/cases/{case_id}", {"group_size": 11})
    assert fine.status == 200 and fine.body["group_size"] == 11


# Documents -------------------------------------------------------------------------------


async def test_documents_are_stored_once_with_their_hash(
    client: Client, as_user: Login, config: Config
) -> None:
    the = await ids(client)
    officer = await as_user("officer")
    reply = await upload(officer, the["ordinary"], ("quyết định.pdf", PDF), ("ảnh.png", PNG))
    assert reply.status == 201, reply.body
    items = reply.body["items"]
    assert [i["media_type"] for i in items] == ["application/pdf", "image/png"]
    assert [i["sha256"] for i in items] == [hashlib.sha256(b).hexdigest() for b in (PDF, PNG)]
    assert items[0]["file_name"] == "quyết định.pdf"
    files = stored_documents(config)
    assert [f.read_bytes() for f in files] == [PDF, PNG]
    got = await officer.get(items[0]["download_url"])
    assert got.status == 200 and got.headers["X-Content-SHA256"] == items[0]["sha256"]
    # A second batch gets new keys: nothing is overwritten.
    again = await upload(officer, the["ordinary"], ("quyết định.pdf", PDF))
    assert again.status == 201
    assert len(stored_documents(config)) == 3
    listed = await officer.get(f"/api/v1/cases/{the['ordinary']}/documents")
    assert len(listed.body["items"]) == 3
    async with client.app[DB]() as db:
        keys = list(await db.scalars(select(CaseDocument.storage_key)))
        audits = list(
            await db.scalars(select(AuditRecord).where(AuditRecord.action == "case.documents"))
        )
    assert len(set(keys)) == 3 and all(k.startswith("documents/") for k in keys)
    assert len(audits) == 2


@pytest.mark.parametrize(
    ("files", "field", "words"),
    [
        ([("trong.pdf", b"")], "file", "tệp rỗng"),
        ([("don.pdf", b"Day khong phai PDF")], "file", "chỉ nhận PDF"),
        ([("lon.pdf", b"%PDF-" + b"x" * LIMIT)], "file", "quá"),
        ([("tot.pdf", PDF), ("gia.png", b"GIF89a....")], "file[1]", "chỉ nhận"),
        ([], "file", "chưa chọn"),
    ],
)
async def test_a_bad_file_refuses_the_whole_upload(
    client: Client,
    as_user: Login,
    config: Config,
    files: list[tuple[str, bytes]],
    field: str,
    words: str,
) -> None:
    the = await ids(client)
    officer = await as_user("officer")
    before = await snapshot(client)
    reply = await upload(officer, the["ordinary"], *files)
    assert reply.status == 422, reply.body
    assert words in reply.error_fields[field]
    assert await snapshot(client) == before
    assert stored_documents(config) == []


async def test_documents_of_a_denunciation_are_for_cleared_accounts(
    client: Client, as_user: Login
) -> None:
    the = await ids(client)
    officer = await as_user("officer")
    reply = await upload(officer, the["denunciation"], ("don-to-cao.pdf", PDF))
    assert reply.status == 201, reply.body
    url = reply.body["items"][0]["download_url"]
    stranger = await new_officer(as_user)
    assert (await stranger.get(url)).status == 403
    assert (await stranger.get(f"/api/v1/cases/{the['denunciation']}/documents")).status == 403
    assert (await upload(stranger, the["denunciation"], ("x.pdf", PDF))).status == 403
    assert (await officer.get(url)).status == 200
    focal = await as_user("focal1")
    assert (await focal.get(url)).status == 403


# Clearances -----------------------------------------------------------------------------


async def _audits(client: Client, action: str) -> list[AuditRecord]:
    async with client.app[DB]() as db:
        stmt = select(AuditRecord).where(AuditRecord.action == action)
        return list(await db.scalars(stmt))


async def test_grant_list_and_revoke_clearances(client: Client, as_user: Login) -> None:
    the = await ids(client)
    case = the["denunciation"]
    stranger = await new_officer(as_user)
    officer = await as_user("officer")
    chair = await as_user("chair")
    path = f"/api/v1/cases/{case}/clearances"
    assert (await stranger.get(path)).status == 403
    listed = await officer.get(path)
    assert {i["account_id"] for i in listed.body["items"]} == {officer.account_id, chair.account_id}
    assert (await officer.post(path, {"account_id": stranger.account_id})).status == 201
    assert (await stranger.get(f"/api/v1/cases/{case}")).body["parties"][0]["full_name"]
    reply = await officer.call("DELETE", f"{path}/{stranger.account_id}")
    assert reply.status == 204, reply.text
    assert [a.detail for a in await _audits(client, "case.clearance.revoke")] == [
        {"account_id": stranger.account_id}
    ]
    assert (await stranger.get(path)).status == 403
    assert (await officer.call("DELETE", f"{path}/{chair.account_id}")).status == 204
    before = await snapshot(client)
    last = await officer.call("DELETE", f"{path}/{officer.account_id}")
    assert last.status == 409 and "account_id" in last.error_fields
    assert await snapshot(client) == before
    never = await officer.call("DELETE", f"{path}/{stranger.account_id}")
    assert never.status == 422


async def test_an_upload_may_be_larger_than_a_json_body(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    """A scan is bigger than the app's body limit (1 MB): an upload route reads up to a
    batch of documents, and the CSRF check before it does too."""
    roomy = dataclasses.replace(config, max_document_bytes=3 * 1024 * 1024)
    assert roomy.max_body_bytes < 2 * 1024 * 1024
    await seed(roomy.database.url, clock.now)
    client = await aiohttp_client(create_app(roomy, clock))
    officer = await sign_in(client, "officer")
    scan = b"%PDF-" + b"0" * (2 * 1024 * 1024)
    reply = await upload(officer, (await ids(client))["ordinary"], ("ban-chup.pdf", scan))
    assert reply.status == 201, reply.text[:500]
    assert reply.body["items"][0]["sha256"] == hashlib.sha256(scan).hexdigest()
