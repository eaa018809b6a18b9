"""The case bundle for hand-over, on the sample archive: the ZIP holds the final minutes and
the conclusion notice (PDF and DOCX), the composite video of the case's segment (ffprobe: the
segment's length), the documents, and a manifest whose hashes match its files; names keep
their diacritics with the UTF-8 flag. A denunciation's documents are left out, and said so,
for an account not cleared for it; the page form shows a refusal beside the button."""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import AuditRecord, CaseFile
from tests.recording.recmedia import probed_duration
from tests.web.conftest import Caller, Login
from web.bundle import PARTS
from web.config import Config
from web.keys import DB
from web.sample_archive import FIRST_CASE_AT_S, SECOND_CASE_AT_S, seed_sample_archive

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


async def _case(client: TestClient[Any, Any], code: str) -> int:
    async with client.app[DB]() as db:
        cid: int | None = await db.scalar(select(CaseFile.id).where(CaseFile.code == code))
        assert cid is not None
        return cid


async def _finished(caller: Caller, job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(900):
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)  # polling the job's state, not standing in for it
        job = (await caller.get(f"/api/v1/bundles/{job['id']}")).body
    raise AssertionError(f"bundle not finished: {job}")


async def test_the_bundle_of_a_case(
    client: TestClient[Any, Any], config: Config, as_user: Login, tmp_path: Path
) -> None:
    assert (await seed_sample_archive(config)).created
    case_id = await _case(client, "HS-MAU-001")
    officer = await as_user("officer")
    form = aiohttp_form(officer, "Đơn khiếu nại – bản chụp.pdf")
    uploaded = await officer.call("POST", f"/api/v1/cases/{case_id}/documents", data=form)
    assert uploaded.status == 201, uploaded.text

    started = await officer.post(f"/api/v1/cases/{case_id}/bundle")
    assert started.status == 202, started.text
    job = await _finished(officer, started.body)
    assert job["state"] == "done", job
    other = await as_user("chair")
    assert (await other.get(f"/api/v1/bundles/{job['id']}")).status == 404  # the requester's

    async with client.request(
        "GET", job["download_url"], headers={"Cookie": f"tiepdan_session={officer.token}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        data = await resp.read()
    client.session.cookie_jar.clear()
    assert hashlib.sha256(data).hexdigest() == job["sha256"]
    zf = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(zf.read("manifest.json"))
    names = {f["name"] for f in manifest["files"]}
    assert set(zf.namelist()) == names | {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["name"])).hexdigest() == f["sha256"], f["name"]
    kinds = {n.rsplit(".", 1)[-1] for n in names}
    assert {"pdf", "docx", "mp4"} <= kinds, names
    assert any(n.startswith("bien-ban/") for n in names)
    assert any(n.startswith("thong-bao-ket-luan/") for n in names)
    doc = next(n for n in names if n.startswith("tai-lieu/"))
    assert "Đơn khiếu nại – bản chụp.pdf" in doc
    assert zf.getinfo(doc).flag_bits & 0x800, "a name with diacritics is flagged UTF-8"

    video = next(n for n in names if n.endswith(".mp4"))
    path = tmp_path / "segment.mp4"
    path.write_bytes(zf.read(video))
    probed = await asyncio.to_thread(probed_duration, path)
    heard = SECOND_CASE_AT_S - FIRST_CASE_AT_S
    assert abs(probed - heard) < 1.0, probed
    assert job["heard_s"] == pytest.approx(heard, abs=0.5)
    async with client.app[DB]() as db:
        actions = set(
            await db.scalars(select(AuditRecord.action).where(AuditRecord.object_type == "case"))
        )
    assert {"case.bundle", "case.bundle.download"} <= actions


def aiohttp_form(caller: Caller, name: str) -> Any:
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", PDF, filename=name, content_type="application/pdf")
    form.add_field("description", "Bản chụp đơn")
    return form


async def test_a_denunciations_documents_stay_out_for_the_uncleared(
    client: TestClient[Any, Any], config: Config, as_user: Login
) -> None:
    case_id = await _case(client, "HS-MAU-003")
    officer = await as_user("officer")  # cleared for the seeded denunciation
    form = aiohttp_form(officer, "Đơn tố cáo.pdf")
    uploaded = await officer.call("POST", f"/api/v1/cases/{case_id}/documents", data=form)
    assert uploaded.status == 201, uploaded.text
    # The archivist is not cleared: the document may not go in, and nothing else is there.
    archivist = await as_user("archivist")
    refused = await archivist.post(f"/api/v1/cases/{case_id}/bundle")
    assert refused.status == 409, refused.text
    everything = [("csrf_token", archivist.csrf), *(("parts", p) for p in PARTS)]
    page = await archivist.call("POST", f"/cases/{case_id}/bundle", data=everything)
    assert page.status == 422 and "chưa có gì để đóng gói" in html.unescape(page.text)
    # Nothing chosen: said beside the choice; a part that does not exist: 422 naming it.
    page = await archivist.call("POST", f"/cases/{case_id}/bundle", data=everything[:1])
    assert page.status == 422 and 'id="err-parts"' in page.text
    bad = await officer.post(f"/api/v1/cases/{case_id}/bundle", {"parts": ["photos"]})
    assert bad.status == 422 and "parts" in bad.error_fields, bad.text
    # Only the documents: the ZIP holds the document and the manifest.
    only = await officer.post(f"/api/v1/cases/{case_id}/bundle", {"parts": ["documents"]})
    assert (await _finished(officer, only.body))["files"] == 2
    # The cleared officer's bundle has it.
    job = await _finished(officer, (await officer.post(f"/api/v1/cases/{case_id}/bundle")).body)
    assert job["state"] == "done" and job["withheld"] == [], job
